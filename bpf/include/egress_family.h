/* egress_family.h: NIC egress of one address family (frontend, conntrack, validation, backend choice, affinity, DNAT), written once for both. */
/* No include guard: nic_egress.bpf.c includes it for IPv4 and egress6.bpf.c for IPv6, each after
 * defining the family's
 *   types      EG_TUPLE, EG_SVC_KEY, EG_BACKEND, EG_AFF_KEY, EG_POD_KEY, EG_CT_KEY, EG_CT_VALUE;
 *   maps       EG_SVC_MAP, EG_SLOT_MAP, EG_BE_MAP, EG_AFF_MAP, EG_POD_MAP;
 *   names      EG_FN(name) for the functions below, EG_CT(name) for its conntrack functions;
 *   operations EG_ADDR_EQ(a, b) on two address lvalues, EG_DNAT(skb, t, ct) (rewrite to the
 *              entry's translation), EG_REJECT(skb, t, reason), EG_FRAG_REMEMBER(skb, t),
 *              EG_FRONTEND_RANGE(t) (inside the Service CIDR), EG_COOKIE(skb) (the pod's netns),
 *              EG_UNTRANSLATED(skb, t, rc) (the family's guard), EG_CT_CLEAR_PAD(ct).
 * The kube-proxy semantics below are the family-independent part of the datapath; only types,
 * maps and address operations differ (IPv6 addresses are 16 bytes, compared and passed by pointer). */

/* Whether a live flow keeps the translation its entry holds. Established TCP always does,
 * whatever became of its backend (removed, not ready, terminating, its id recycled) or its
 * Service (deleted, or given another id): kube-proxy leaves the conntrack entries of such TCP
 * flows alone; so the established TCP path needs no backend lookup. A SYN or a datagram keeps
 * it while the backend is still the one the flow chose (same id, address, port and service:
 * ids are recycled eventually), unless a new connection reuses the tuple of a terminating
 * backend. Everything else chooses again, so UDP of a removed backend moves at its next
 * datagram (kube-proxy flushes its entries). */
static __always_inline int EG_FN(ct_keeps)(const EG_CT_VALUE *ct, const EG_TUPLE *t, const struct svc_value *svc)
{
	int syn_only = tcp_syn_only(t->proto, t->tcp_flags);
	EG_BACKEND *p;

	if (t->proto == IPPROTO_TCP && !syn_only)
		return 1;
	p = bpf_map_lookup_elem(&EG_BE_MAP, &ct->backend_id);
	if (p) {
		EG_BACKEND be = *p;

		if (EG_ADDR_EQ(be.addr, ct->nat_addr) && be.port == ct->nat_port && be.svc_id == ct->svc_id &&
		    svc->svc_id == ct->svc_id)
			return !(syn_only && (be.flags & BACKEND_F_TERMINATING));
	}
	return 0;
}

/* ClientIP affinity: the client's last backend while it is fresh, still belongs to this
 * service and takes new flows. Returns 0 and fills be/backend_id, or -1. */
static __always_inline int EG_FN(affine_backend)(const struct svc_value *svc, const EG_TUPLE *t, __u64 now,
						 EG_BACKEND *be, __u32 *backend_id)
{
	EG_AFF_KEY k = { .svc_id = svc->svc_id, .client = t->saddr };
	struct affinity_value *p;
	struct affinity_value a;
	EG_BACKEND *b;

	if (!svc->affinity_timeout)
		return -1;
	p = bpf_map_lookup_elem(&EG_AFF_MAP, &k);
	if (!p)
		return -1;
	a = *p;
	if (now - a.last_used_ns > svc->affinity_timeout * NSEC_PER_SEC)
		return -1;
	b = bpf_map_lookup_elem(&EG_BE_MAP, &a.backend_id);
	if (!b)
		return -1;
	*be = *b;
	if (be->svc_id != svc->svc_id || (be->flags & BACKEND_F_TERMINATING))
		return -1;
	*backend_id = a.backend_id;
	return 0;
}

static __always_inline void EG_FN(remember_affinity)(const struct svc_value *svc, const EG_TUPLE *t,
						     __u64 now, __u32 backend_id)
{
	EG_AFF_KEY k = { .svc_id = svc->svc_id, .client = t->saddr };
	struct affinity_value v = { .last_used_ns = now, .backend_id = backend_id, .pad = 0 };

	if (svc->affinity_timeout)
		bpf_map_update_elem(&EG_AFF_MAP, &k, &v, BPF_ANY);
}

/* A random active backend of the service: 0 and be/backend_id filled, or -1 (counted). */
static __always_inline int EG_FN(random_backend)(const struct svc_value *svc, EG_BACKEND *be, __u32 *backend_id)
{
	struct slot_key k = { .svc_id = svc->svc_id, .slot = bpf_get_prandom_u32() % svc->active };
	struct slot_value *slot;
	EG_BACKEND *b;
	__u32 id;

	slot = bpf_map_lookup_elem(&EG_SLOT_MAP, &k);
	if (!slot) {
		count_drop(DROP_SLOT_MISSING);
		return -1;
	}
	id = slot->backend_id;
	b = bpf_map_lookup_elem(&EG_BE_MAP, &id);
	if (!b) {
		count_drop(DROP_BACKEND_MISSING);
		return -1;
	}
	*be = *b;
	if (be->svc_id != svc->svc_id) {
		/* the slot names an id handed to another service meanwhile */
		count_drop(DROP_BACKEND_MISSING);
		return -1;
	}
	*backend_id = id;
	return 0;
}

/* A new flow (or one that must choose again): source check, backend selection, both conntrack
 * entries. Returns 0 with ct filled, or -1 with *verdict set. */
static __always_inline int EG_FN(new_flow)(struct __sk_buff *skb, const EG_TUPLE *t, const struct svc_value *svc,
					   const EG_CT_KEY *k, EG_CT_VALUE *ct, __u64 now, struct svc_stats *stats,
					   int *verdict)
{
	EG_POD_KEY pk = { .netns_cookie = k->netns_cookie, .addr = t->saddr };
	EG_BACKEND be;
	__u32 backend_id;

	*verdict = TC_ACT_SHOT;
	/* only the pod's own addresses open flows, so no pod can make or overwrite another's */
	if (!bpf_map_lookup_elem(&EG_POD_MAP, &pk)) {
		count_drop(DROP_SPOOFED);
		return -1;
	}
	if (svc->active == 0) {
		*verdict = EG_REJECT(skb, t, DROP_NO_BACKEND);
		return -1;
	}
	if (EG_FN(affine_backend)(svc, t, now, &be, &backend_id) && EG_FN(random_backend)(svc, &be, &backend_id))
		return -1;
	EG_FN(remember_affinity)(svc, t, now, backend_id);

	ct->state = ct_initial_state_of(t->proto, t->tcp_flags);
	ct->expires_ns = now + ct_lifetime(ct->state);
	ct->nat_addr = be.addr;
	ct->nat_port = be.port;
	ct->flags = EG_ADDR_EQ(be.addr, t->saddr) ? CT_F_SELF : 0;
	ct->backend_id = backend_id;
	ct->svc_id = svc->svc_id;
	EG_CT_CLEAR_PAD(ct);
	if (EG_CT(store)(k, ct, 1)) {
		/* full of live flows: refuse the new one, never evict (netfilter does the same) */
		count_drop(DROP_CT_FULL);
		return -1;
	}
	if (stats)
		stats->new_flows += 1;
	return 0;
}

/* DNAT to what the flow's entry says, then out towards the backend (or to loopback). */
static __always_inline int EG_FN(translate)(struct __sk_buff *skb, const EG_TUPLE *t, const EG_CT_VALUE *ct)
{
	if (EG_DNAT(skb, t, ct)) {
		count_drop(DROP_REWRITE_FAILED);
		return TC_ACT_SHOT;
	}
	if (EG_FRAG_REMEMBER(skb, t))
		return TC_ACT_SHOT;
	return (ct->flags & CT_F_SELF) ? to_loopback(skb) : to_next_hop(skb);
}

/* A packet to no frontend: still translated when it belongs to a live established TCP flow
 * of a Service deleted meanwhile; anything else is not enilb's. */
static __always_inline int EG_FN(without_frontend)(struct __sk_buff *skb, const EG_TUPLE *t)
{
	EG_CT_KEY k;
	EG_CT_VALUE ct;
	__u64 now;

	if (t->proto != IPPROTO_TCP || tcp_syn_only(t->proto, t->tcp_flags) || !EG_FRONTEND_RANGE(t))
		return TC_ACT_UNSPEC;
	EG_CT(key_of)(&k, EG_COOKIE(skb), t, CT_DIR_ORIGINAL);
	if (!EG_CT(live)(&k, &ct, &now))
		return TC_ACT_UNSPEC;
	EG_CT(refresh)(&k, &ct, ct_next_state_of(ct.state, t->proto, t->tcp_flags, CT_DIR_ORIGINAL), now);
	return EG_FN(translate)(skb, t, &ct);
}

/* A parsed packet (rc from the family's parse_flow): to a frontend, translated; otherwise what
 * the family's guard says. */
static __always_inline int EG_FN(egress_flow)(struct __sk_buff *skb, const EG_TUPLE *t, int rc)
{
	EG_SVC_KEY sk = {};
	struct svc_value *p;
	struct svc_value svc;
	struct svc_stats *stats;
	EG_CT_KEY k;
	EG_CT_VALUE ct;
	__u64 now;
	int verdict;

	if (rc != PARSE_FLOW)
		return EG_UNTRANSLATED(skb, t, rc);
	sk.addr = t->daddr;
	sk.port = t->dport;
	sk.proto = t->proto;
	p = bpf_map_lookup_elem(&EG_SVC_MAP, &sk);
	if (!p) {
		verdict = EG_FN(without_frontend)(skb, t);
		return verdict != TC_ACT_UNSPEC ? verdict : EG_UNTRANSLATED(skb, t, rc);
	}
	svc = *p;

	stats = svc_stats(svc.svc_id);
	if (stats) {
		stats->packets += 1;
		stats->bytes += skb->len;
	}

	EG_CT(key_of)(&k, EG_COOKIE(skb), t, CT_DIR_ORIGINAL);
	if (EG_CT(live)(&k, &ct, &now) && EG_FN(ct_keeps)(&ct, t, &svc))
		EG_CT(refresh)(&k, &ct, ct_next_state_of(ct.state, t->proto, t->tcp_flags, CT_DIR_ORIGINAL), now);
	else if (EG_FN(new_flow)(skb, t, &svc, &k, &ct, ct_now(), stats, &verdict))
		return verdict;
	return EG_FN(translate)(skb, t, &ct);
}
