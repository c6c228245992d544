/* egress_family.h: NIC egress of one address family (frontend, conntrack, validation, backend choice, affinity, DNAT), written once for both. */
/* No include guard: nic_egress.bpf.c includes it for IPv4 and egress6.bpf.c for IPv6, each after
 * the family's select_family.h (the backend choice) and after defining the family's
 *   types      EG_TUPLE, EG_SVC_KEY, EG_BACKEND, EG_AFF_KEY, EG_POD_KEY, EG_CT_KEY, EG_CT_VALUE;
 *   maps       EG_SVC_MAP, EG_SLOT_MAP, EG_BE_MAP, EG_AFF_MAP, EG_POD_MAP;
 *   names      EG_FN(name) for the functions below, EG_CT(name) for its conntrack functions;
 *   operations EG_ADDR_EQ(a, b) on two address lvalues, EG_DNAT(skb, t, ct) (rewrite to the
 *              entry's translation), EG_REJECT(skb, t, reason), EG_FRAG_REMEMBER(skb, t),
 *              EG_FRONTEND_RANGE(t) (inside the Service CIDR), EG_COOKIE(skb) (the pod's netns),
 *              EG_UNTRANSLATED(skb, t, rc) (the family's guard), EG_CT_CLEAR_PAD(ct);
 *   events     EG_EVENT_REFUSED(k, svc_id, type, reason, now) and EG_EVENT_NEW(k, ct, via, now)
 *              (flow events, events_family.h).
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
	EG_BACKEND be;

	if (t->proto == IPPROTO_TCP && !syn_only)
		return 1;
	if (svc->svc_id == ct->svc_id &&
	    EG_FN(backend_unchanged)(ct->backend_id, ct->nat_addr, ct->nat_port, ct->svc_id, &be))
		return !(syn_only && (be.flags & BACKEND_F_TERMINATING));
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
	__u8 via = FLOW_VIA_AFFINITY;
	int reason;

	*verdict = TC_ACT_SHOT;
	/* only the pod's own addresses open flows, so no pod can make or overwrite another's */
	if (!bpf_map_lookup_elem(&EG_POD_MAP, &pk)) {
		count_drop(DROP_SPOOFED);
		EG_EVENT_REFUSED(k, svc->svc_id, FLOW_EV_DROP, DROP_SPOOFED, now);
		return -1;
	}
	if (svc->active == 0) {
		EG_EVENT_REFUSED(k, svc->svc_id, FLOW_EV_REJECT, DROP_NO_BACKEND, now);
		*verdict = EG_REJECT(skb, t, DROP_NO_BACKEND);
		return -1;
	}
	if (EG_FN(affine_backend)(svc, t->saddr, now, &be, &backend_id)) {
		via = FLOW_VIA_RANDOM;
		reason = EG_FN(random_backend)(svc, &be, &backend_id);
		if (reason) {
			EG_EVENT_REFUSED(k, svc->svc_id, FLOW_EV_DROP, reason, now);
			return -1;
		}
	}
	EG_FN(remember_affinity)(svc, t->saddr, now, backend_id);

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
		EG_EVENT_REFUSED(k, svc->svc_id, FLOW_EV_DROP, DROP_CT_FULL, now);
		return -1;
	}
	if (stats)
		stats->new_flows += 1;
	EG_EVENT_NEW(k, ct, via, now);
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
