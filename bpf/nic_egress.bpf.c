/* nic_egress.bpf.c: tc egress on the pod's own NIC: ClusterIP -> backend (DNAT), conntrack, affinity, self-access, reject, fragments, ICMP errors. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "structs.h"
#include "maps.h"
#include "packet.h"
#include "nat.h"
#include "netns.h"
#include "conntrack.h"
#include "reject.h"
#include "fib.h"
#include "frag.h"
#include "guard.h"
#include "select.h"
#include "family6.h"

/* Whether a live flow keeps the translation its entry holds. Established TCP always does,
 * whatever became of its backend (removed, not ready, terminating, its id recycled) or its
 * Service (deleted, or given another id): kube-proxy leaves the conntrack entries of such TCP
 * flows alone; so the established TCP path needs no backend lookup. A SYN or a datagram keeps
 * it while the backend is still the one the flow chose (same id, address, port and service:
 * ids are recycled eventually), unless a new connection reuses the tuple of a terminating
 * backend. Everything else chooses again, so UDP of a removed backend moves at its next
 * datagram (kube-proxy flushes its entries). */
static __always_inline int ct_keeps(const struct ct_value *ct, const struct tuple4 *t, const struct svc_value *svc)
{
	int syn_only = is_tcp_syn_only(t);
	struct backend be;

	if (t->proto == IPPROTO_TCP && !syn_only)
		return 1;
	if (svc->svc_id == ct->svc_id && backend_unchanged(ct->backend_id, ct->nat_addr, ct->nat_port, ct->svc_id, &be))
		return !(syn_only && (be.flags & BACKEND_F_TERMINATING));
	return 0;
}

/* A new flow (or one that must choose again): source check, backend selection, both conntrack
 * entries. Returns 0 with ct filled, or -1 with *verdict set. */
static __always_inline int new_flow(struct __sk_buff *skb, const struct tuple4 *t, const struct svc_value *svc,
				    const struct ct_key *k, struct ct_value *ct, __u64 now, struct svc_stats *stats,
				    int *verdict)
{
	struct pod_key pk = { .netns_cookie = k->netns_cookie, .addr = t->saddr, .pad = 0 };
	struct backend be;
	__u32 backend_id;

	*verdict = TC_ACT_SHOT;
	/* only the pod's own addresses open flows, so no pod can make or overwrite another's */
	if (!bpf_map_lookup_elem(&enilb_pod4_v2, &pk)) {
		count_drop(DROP_SPOOFED);
		return -1;
	}
	if (svc->active == 0) {
		*verdict = reject_port_unreachable(skb, t, DROP_NO_BACKEND);
		return -1;
	}
	if (select_backend(svc, t->saddr, now, &be, &backend_id))
		return -1;

	ct->state = ct_initial_state(t);
	ct->expires_ns = now + ct_lifetime(ct->state);
	ct->nat_addr = be.addr;
	ct->nat_port = be.port;
	ct->flags = be.addr == t->saddr ? CT_F_SELF : 0;
	ct->backend_id = backend_id;
	ct->svc_id = svc->svc_id;
	if (ct_store(k, ct, 1)) {
		/* full of live flows: refuse the new one, never evict (netfilter does the same) */
		count_drop(DROP_CT_FULL);
		return -1;
	}
	if (stats)
		stats->new_flows += 1;
	return 0;
}

/* DNAT to what the flow's entry says, then out towards the backend (or to loopback). */
static __always_inline int translate(struct __sk_buff *skb, const struct tuple4 *t, const struct ct_value *ct)
{
	if (nat_rewrite4(skb, t, 1, ct->nat_addr, ct->nat_port)) {
		count_drop(DROP_REWRITE_FAILED);
		return TC_ACT_SHOT;
	}
	if (frag_remember(skb, t))
		return TC_ACT_SHOT;
	return (ct->flags & CT_F_SELF) ? to_loopback(skb) : to_next_hop(skb);
}

/* A packet to no frontend: still translated when it belongs to a live established TCP flow
 * of a Service deleted meanwhile; anything else is not enilb's. */
static __always_inline int without_frontend(struct __sk_buff *skb, const struct tuple4 *t)
{
	struct ct_key k;
	struct ct_value ct;
	__u64 now;

	if (t->proto != IPPROTO_TCP || is_tcp_syn_only(t) || !ct_frontend_range(t->daddr))
		return TC_ACT_UNSPEC;
	ct_key_of(&k, netns_cookie_inline(skb), t, CT_DIR_ORIGINAL);
	if (!ct_live(&k, &ct, &now))
		return TC_ACT_UNSPEC;
	ct_refresh(&k, &ct, ct_next_state(ct.state, t, CT_DIR_ORIGINAL), now);
	return translate(skb, t, &ct);
}

/* For the ingress and loopback programs, which are other objects (see netns.h). */
__u64 pod_netns_cookie(struct __sk_buff *skb)
{
	return netns_cookie_inline(skb);
}

/* Attached at tc egress of the pod's NIC; sees what the pod sends towards the fabric. */
SEC("tc")
int enilb_egress(struct __sk_buff *skb)
{
	struct tuple4 t;
	struct svc_key sk = {};
	struct svc_value *p;
	struct svc_value svc;
	struct svc_stats *stats;
	struct ct_key k;
	struct ct_value ct;
	__u64 now;
	int verdict;
	int rc;

	rc = parse_flow4(skb, &t);
	if (rc == PARSE_NOT_IPV4)
		return to_family6(skb, FAMILY6_EGRESS);
	if (rc != PARSE_FLOW)
		return egress_untranslated(skb, &t, rc);
	sk.addr = t.daddr;
	sk.port = t.dport;
	sk.proto = t.proto;
	p = bpf_map_lookup_elem(&enilb_svc4_v2, &sk);
	if (!p) {
		verdict = without_frontend(skb, &t);
		return verdict != TC_ACT_UNSPEC ? verdict : egress_untranslated(skb, &t, rc);
	}
	svc = *p;

	stats = svc_stats(svc.svc_id);
	if (stats) {
		stats->packets += 1;
		stats->bytes += skb->len;
	}

	ct_key_of(&k, netns_cookie_inline(skb), &t, CT_DIR_ORIGINAL);
	if (ct_live(&k, &ct, &now) && ct_keeps(&ct, &t, &svc))
		ct_refresh(&k, &ct, ct_next_state(ct.state, &t, CT_DIR_ORIGINAL), now);
	else if (new_flow(skb, &t, &svc, &k, &ct, ct_now(), stats, &verdict))
		return verdict;
	return translate(skb, &t, &ct);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
