/* sock_family.h: the socket hooks' logic for one family (connect, sendmsg, recvmsg, getpeername); sock.bpf.c makes an IPv4 and an IPv6 instance. */
/* No include guard: included once per family, after that family's select header (select4.h,
 * select6.h) and after defining
 *   names      SK_FN(name) for the functions below, SK_SEL(name) for the select_family.h ones;
 *   addresses  SK_ADDR, SK_ADDR_EQ(a, b), SK_ADDR_ZERO(a) (lvalues), SK_BACKEND;
 *   the call   SK_DST_GET(ctx, a), SK_DST_SET(ctx, a) (the address the program named),
 *              SK_SRC_GET(sk, a) (the address the socket is bound to);
 *   maps       SK_SVC_KEY/SK_SVC_MAP, SK_POD_KEY/SK_POD_MAP, SK_SCOPE/SK_SCOPE_MAP,
 *              SK_NAT/SK_NAT_MAP, SK_FLOW_KEY/SK_FLOW_VALUE/SK_FLOW_MAP;
 *   events     SK_CT_KEY, SK_CT_VALUE (the family's conntrack key and value, which the flow
 *              event functions take) and SK_EV(name) for the names events_family.h gave them.
 * It undefines them all at its end, so that the next instance defines its own.
 * Both families translate alike, with the tc path's choice (select_family.h): one place for the
 * socket path's rules. */

/* Attached at the cgroup v2 root, so these run for every socket of the host: only namespaces
 * enilb attached (a pod's, registered at CNI ADD) are translated; everything else proceeds as
 * it came. */
static __always_inline SK_SCOPE *SK_FN(sock_scope)(struct bpf_sock_addr *ctx, __u64 *netns)
{
	*netns = bpf_get_netns_cookie(ctx);
	return bpf_map_lookup_elem(&SK_SCOPE_MAP, netns);
}

/* The frontend the call addresses, as the tc path would look it up from the first packet; its
 * address in frontend. */
static __always_inline int SK_FN(sock_frontend)(struct bpf_sock_addr *ctx, SK_ADDR *frontend, struct svc_value *svc)
{
	SK_SVC_KEY k = { .port = (__be16)ctx->user_port, .proto = (__u8)ctx->protocol, .pad = 0 };
	struct svc_value *p;

	SK_DST_GET(ctx, &k.addr);
	*frontend = k.addr;
	p = bpf_map_lookup_elem(&SK_SVC_MAP, &k);
	if (!p)
		return -1;
	*svc = *p;
	return 0;
}

/* The client address ClientIP affinity is keyed by, the one tc sees as the packets' source: the
 * address the socket is bound to when the pod owns it, else the pod's first address of the
 * family (the kernel picks the source only after connect, from the route). */
static __always_inline void SK_FN(sock_client)(struct bpf_sock_addr *ctx, __u64 netns, const SK_SCOPE *scope,
					       SK_ADDR *client)
{
	struct bpf_sock *sk = ctx->sk;
	SK_POD_KEY pk = { .netns_cookie = netns };

	*client = scope->client;
	if (!sk)
		return;
	SK_SRC_GET(sk, &pk.addr);
	if (!SK_ADDR_ZERO(pk.addr) && bpf_map_lookup_elem(&SK_POD_MAP, &pk))
		*client = pk.addr;
}

/* A flow event for a socket flow, as the tc path writes it for a packet flow (events_family.h):
 * the tuple as the pod addressed it, the backend it got (be NULL: refused). */
static __always_inline void SK_FN(sock_event)(struct bpf_sock_addr *ctx, __u64 netns, const SK_ADDR *client,
					      const SK_ADDR *frontend, __u32 svc_id, __u8 type, __u8 reason,
					      const SK_BACKEND *be, __u32 backend_id, __u8 via)
{
	SK_CT_KEY k = { .netns_cookie = netns, .saddr = *client, .daddr = *frontend, .sport = sock_port(ctx),
			.dport = (__be16)ctx->user_port, .proto = (__u8)ctx->protocol, .dir = CT_DIR_ORIGINAL };
	SK_CT_VALUE ct = {};

	if (!be) {
		SK_EV(flow_event_refused)(&k, svc_id, type, reason, ct_now());
		return;
	}
	ct.nat_addr = be->addr;
	ct.nat_port = be->port;
	ct.backend_id = backend_id;
	ct.svc_id = svc_id;
	SK_EV(flow_event_new)(&k, &ct, via, ct_now());
}

/* No endpoints: the call fails, counted and told as the tc path's reject is. */
static __always_inline int SK_FN(sock_refuse)(struct bpf_sock_addr *ctx, __u64 netns, const SK_ADDR *client,
					      const SK_ADDR *frontend, __u32 svc_id)
{
	count_drop(DROP_NO_BACKEND);
	SK_FN(sock_event)(ctx, netns, client, frontend, svc_id, FLOW_EV_REJECT, DROP_NO_BACKEND, NULL, 0, 0);
	return refuse();
}

/* A backend for a new socket flow, chosen as the tc path chooses, counted and told as a new flow
 * of the tc path is. 0 with be and backend_id filled; -ECONNREFUSED when the frontend has no
 * backend (the caller refuses: sock_refuse); -1 when the choice failed (counted): the call then
 * proceeds untranslated and tc handles its packets. */
static __always_inline int SK_FN(sock_choose)(struct bpf_sock_addr *ctx, __u64 netns, const SK_ADDR *client,
					      const SK_ADDR *frontend, const struct svc_value *svc, SK_BACKEND *be,
					      __u32 *backend_id)
{
	struct svc_stats *stats;
	__u8 via;

	if (svc->active == 0)
		return -ECONNREFUSED;
	if (SK_SEL(select_backend)(svc, *client, ct_now(), be, backend_id, &via))
		return -1;
	stats = svc_stats(svc->svc_id);
	if (stats)
		stats->new_flows += 1;
	SK_FN(sock_event)(ctx, netns, client, frontend, svc->svc_id, FLOW_EV_NEW, 0, be, *backend_id, via);
	return 0;
}

/* connect() of a TCP or UDP socket in a pod. TCP: a frontend becomes the chosen backend before
 * the kernel routes or sends anything; the socket remembers both for getpeername. UDP: refused
 * at once without endpoints, else left to tc. A connected UDP socket is one flow for as long
 * as it lives, and UDP has no connection the backend's removal would end: tc re-checks the
 * backend at every datagram and moves the flow at its next one (the tc path's UDP rule), which
 * a translation fixed at connect() cannot do (send() on a connected socket runs no sendmsg hook
 * to re-check in). Cilium destroys such sockets instead (the application sees ECONNABORTED). */
static __always_inline int SK_FN(sock_connect)(struct bpf_sock_addr *ctx)
{
	SK_SCOPE *scope;
	SK_NAT *nat;
	struct svc_value svc;
	SK_ADDR frontend;
	SK_ADDR client;
	SK_BACKEND be;
	__u32 backend_id;
	__u64 netns;

	if (ctx->protocol != IPPROTO_TCP && ctx->protocol != IPPROTO_UDP)
		return SYS_PROCEED;
	scope = SK_FN(sock_scope)(ctx, &netns);
	if (!scope)
		return SYS_PROCEED;
	if (SK_FN(sock_frontend)(ctx, &frontend, &svc)) {
		/* a TCP socket connected again after a failed connect must not show its old Service */
		if (ctx->protocol == IPPROTO_TCP)
			bpf_sk_storage_delete(&SK_NAT_MAP, ctx->sk);
		return SYS_PROCEED;
	}
	SK_FN(sock_client)(ctx, netns, scope, &client);
	if (svc.active == 0)
		return SK_FN(sock_refuse)(ctx, netns, &client, &frontend, svc.svc_id);
	if (ctx->protocol == IPPROTO_UDP)
		return SYS_PROCEED;
	/* before the choice, so that a flow tc takes over is counted and told once, by tc */
	nat = bpf_sk_storage_get(&SK_NAT_MAP, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!nat)
		return SYS_PROCEED;	/* no memory for it: tc translates this flow instead */
	if (SK_FN(sock_choose)(ctx, netns, &client, &frontend, &svc, &be, &backend_id)) {
		bpf_sk_storage_delete(&SK_NAT_MAP, ctx->sk);
		return SYS_PROCEED;
	}
	nat->frontend_addr = frontend;
	nat->frontend_port = (__be16)ctx->user_port;
	nat->backend_addr = be.addr;
	nat->backend_port = be.port;
	nat->pad = 0;
	SK_DST_SET(ctx, &be.addr);
	ctx->user_port = be.port;
	return SYS_PROCEED;
}

/* The REPLY twin of an unconnected socket's ORIGINAL entry: the backend shows as the frontend. */
static __always_inline void SK_FN(sock_flow_reply)(__u64 sock, const SK_FLOW_VALUE *orig, const SK_ADDR *frontend,
						   __be16 frontend_port)
{
	SK_FLOW_KEY rk = { .sock_cookie = sock, .addr = orig->nat_addr, .port = orig->nat_port, .dir = CT_DIR_REPLY };
	SK_FLOW_VALUE rv = { .last_used_ns = orig->last_used_ns, .nat_addr = *frontend, .nat_port = frontend_port,
			     .backend_id = orig->backend_id, .svc_id = orig->svc_id };

	bpf_map_update_elem(&SK_FLOW_MAP, &rk, &rv, BPF_ANY);
}

/* sendto()/sendmsg() with an address on a UDP socket of a pod. The socket keeps its backend
 * per frontend while that backend stays the one chosen and the flow is not idle longer than the
 * UDP lifetime (the tc path's UDP rules: a removed or recycled backend, or an expired entry,
 * makes the next datagram choose again; terminating keeps it). */
static __always_inline int SK_FN(sock_sendmsg)(struct bpf_sock_addr *ctx)
{
	SK_FLOW_KEY k = { .dir = CT_DIR_ORIGINAL };
	SK_FLOW_VALUE *p;
	SK_FLOW_VALUE v = {};
	SK_SCOPE *scope;
	struct svc_value svc;
	SK_ADDR client;
	SK_BACKEND be;
	__u64 netns;
	int rc;

	scope = SK_FN(sock_scope)(ctx, &netns);
	if (!scope || SK_FN(sock_frontend)(ctx, &k.addr, &svc))
		return SYS_PROCEED;
	k.sock_cookie = bpf_get_socket_cookie(ctx);
	k.port = (__be16)ctx->user_port;
	p = bpf_map_lookup_elem(&SK_FLOW_MAP, &k);
	if (p) {
		__u64 now = ct_now();
		__u64 lifetime = ct_lifetime(CT_OTHER);
		__u64 age;

		v = *p;
		age = sock_flow_age(v.last_used_ns, now);
		if (v.svc_id == svc.svc_id && age <= lifetime &&
		    SK_SEL(backend_unchanged)(v.backend_id, v.nat_addr, v.nat_port, v.svc_id, &be)) {
			SK_FLOW_KEY rk = { .sock_cookie = k.sock_cookie, .addr = v.nat_addr, .port = v.nat_port,
					   .dir = CT_DIR_REPLY };
			SK_FLOW_VALUE *rp = bpf_map_lookup_elem(&SK_FLOW_MAP, &rk);

			if (!rp) {
				/* the REPLY entry was evicted alone (LRU) */
				p->last_used_ns = now;
				v.last_used_ns = now;
				SK_FN(sock_flow_reply)(k.sock_cookie, &v, &k.addr, k.port);
			} else if (age > lifetime / 8) {
				/* as conntrack refreshes: a write every 1/8 of the lifetime, not per datagram */
				p->last_used_ns = now;
				rp->last_used_ns = now;
			}
			goto translate;
		}
	}
	SK_FN(sock_client)(ctx, netns, scope, &client);
	rc = SK_FN(sock_choose)(ctx, netns, &client, &k.addr, &svc, &be, &v.backend_id);
	if (rc == -ECONNREFUSED)
		return SK_FN(sock_refuse)(ctx, netns, &client, &k.addr, svc.svc_id);
	if (rc)
		return SYS_PROCEED;
	v.last_used_ns = ct_now();
	v.nat_addr = be.addr;
	v.nat_port = be.port;
	v.svc_id = svc.svc_id;
	bpf_map_update_elem(&SK_FLOW_MAP, &k, &v, BPF_ANY);
	SK_FN(sock_flow_reply)(k.sock_cookie, &v, &k.addr, k.port);
translate:
	SK_DST_SET(ctx, &v.nat_addr);
	ctx->user_port = v.nat_port;
	return SYS_PROCEED;
}

/* A reply keeps its flow alive, as a reply refreshes the tc path's UDP conntrack entry: both
 * entries' last use, written every 1/8 of the lifetime. The ORIGINAL entry only while it still
 * sends to the backend this reply came from (not after it chose another one). */
static __always_inline void SK_FN(sock_flow_replied)(__u64 sock, SK_FLOW_VALUE *reply, const SK_ADDR *backend,
						     __be16 backend_port)
{
	SK_FLOW_KEY ok = { .sock_cookie = sock, .addr = reply->nat_addr, .port = reply->nat_port,
			   .dir = CT_DIR_ORIGINAL };
	SK_FLOW_VALUE *orig;
	__u64 now = ct_now();

	if (sock_flow_age(reply->last_used_ns, now) <= ct_lifetime(CT_OTHER) / 8)
		return;
	reply->last_used_ns = now;
	orig = bpf_map_lookup_elem(&SK_FLOW_MAP, &ok);
	if (orig && SK_ADDR_EQ(orig->nat_addr, *backend) && orig->nat_port == backend_port)
		orig->last_used_ns = now;
}

/* recvmsg()/recvfrom() on a UDP socket: a datagram from a backend the socket sent to through a
 * Service shows the Service as its source, also after the flow expired (a late reply of the
 * old backend still names the Service the program sent to). Runs for every UDP socket of the
 * host; a socket enilb never translated costs one map miss. (A connected UDP socket's replies
 * come through tc, which has already written the Service as their source.) */
static __always_inline int SK_FN(sock_recvmsg)(struct bpf_sock_addr *ctx)
{
	SK_FLOW_KEY k = { .port = (__be16)ctx->user_port, .dir = CT_DIR_REPLY };
	SK_FLOW_VALUE *p;

	SK_DST_GET(ctx, &k.addr);
	k.sock_cookie = bpf_get_socket_cookie(ctx);
	p = bpf_map_lookup_elem(&SK_FLOW_MAP, &k);
	if (p) {
		SK_ADDR frontend = p->nat_addr;

		SK_FN(sock_flow_replied)(k.sock_cookie, p, &k.addr, k.port);
		SK_DST_SET(ctx, &frontend);
		ctx->user_port = p->nat_port;
	}
	return SYS_PROCEED;
}

/* getpeername() of a TCP socket connected through a Service: the Service, as the program asked. */
static __always_inline int SK_FN(sock_getpeername)(struct bpf_sock_addr *ctx)
{
	SK_NAT *nat = bpf_sk_storage_get(&SK_NAT_MAP, ctx->sk, 0, 0);
	SK_ADDR peer;

	if (!nat)
		return SYS_PROCEED;
	SK_DST_GET(ctx, &peer);
	if (SK_ADDR_EQ(nat->backend_addr, peer) && nat->backend_port == (__be16)ctx->user_port) {
		peer = nat->frontend_addr;
		SK_DST_SET(ctx, &peer);
		ctx->user_port = nat->frontend_port;
	}
	return SYS_PROCEED;
}

#undef SK_FN
#undef SK_SEL
#undef SK_ADDR
#undef SK_ADDR_EQ
#undef SK_ADDR_ZERO
#undef SK_BACKEND
#undef SK_DST_GET
#undef SK_DST_SET
#undef SK_SRC_GET
#undef SK_SVC_KEY
#undef SK_SVC_MAP
#undef SK_POD_KEY
#undef SK_POD_MAP
#undef SK_SCOPE
#undef SK_SCOPE_MAP
#undef SK_NAT
#undef SK_NAT_MAP
#undef SK_FLOW_KEY
#undef SK_FLOW_VALUE
#undef SK_FLOW_MAP
#undef SK_CT_KEY
#undef SK_CT_VALUE
#undef SK_EV
