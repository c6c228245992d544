/* egress6.bpf.c: the IPv6 half of tc egress on the pod's NIC (nic_egress.bpf.c hands it every packet that is not IPv4): DNAT, conntrack, affinity, self-access, reject, fragments, ICMPv6 errors. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "structs.h"
#include "maps.h"
#include "packet6.h"
#include "nat6.h"
#include "netns.h"
#include "conntrack6.h"
#include "reject6.h"
#include "fib.h"
#include "frag6.h"
#include "icmp6.h"

/* As ct_keeps (nic_egress.bpf.c): the live flow keeps its translation while its backend is the
 * one it chose; established TCP also when the backend or Service went away. */
static __always_inline int ct6_keeps(const struct ct6_value *ct, const struct tuple6 *t, const struct svc_value *svc)
{
	struct backend6 *p = bpf_map_lookup_elem(&enilb_be6_v2, &ct->backend_id);
	int syn_only = tcp_syn_only(t->proto, t->tcp_flags);

	if (p) {
		struct backend6 be = *p;

		if (addr6_eq(&be.addr, &ct->nat_addr) && be.port == ct->nat_port && be.svc_id == ct->svc_id &&
		    (!svc || svc->svc_id == ct->svc_id))
			return !(syn_only && (be.flags & BACKEND_F_TERMINATING));
	}
	return t->proto == IPPROTO_TCP && !syn_only;
}

/* ClientIP affinity (as affine_backend): 0 and be/backend_id filled, or -1. */
static __always_inline int affine_backend6(const struct svc_value *svc, const struct tuple6 *t, __u64 now,
					   struct backend6 *be, __u32 *backend_id)
{
	struct affinity6_key k = { .svc_id = svc->svc_id, .client = t->saddr };
	struct affinity_value *p;
	struct affinity_value a;
	struct backend6 *b;

	if (!svc->affinity_timeout)
		return -1;
	p = bpf_map_lookup_elem(&enilb_aff6_v2, &k);
	if (!p)
		return -1;
	a = *p;
	if (now - a.last_used_ns > svc->affinity_timeout * NSEC_PER_SEC)
		return -1;
	b = bpf_map_lookup_elem(&enilb_be6_v2, &a.backend_id);
	if (!b)
		return -1;
	*be = *b;
	if (be->svc_id != svc->svc_id || (be->flags & BACKEND_F_TERMINATING))
		return -1;
	*backend_id = a.backend_id;
	return 0;
}

static __always_inline void remember_affinity6(const struct svc_value *svc, const struct tuple6 *t, __u64 now,
					       __u32 backend_id)
{
	struct affinity6_key k = { .svc_id = svc->svc_id, .client = t->saddr };
	struct affinity_value v = { .last_used_ns = now, .backend_id = backend_id, .pad = 0 };

	if (svc->affinity_timeout)
		bpf_map_update_elem(&enilb_aff6_v2, &k, &v, BPF_ANY);
}

/* A random active backend (as random_backend): 0 and be/backend_id filled, or -1 (counted). */
static __always_inline int random_backend6(const struct svc_value *svc, struct backend6 *be, __u32 *backend_id)
{
	struct slot_key k = { .svc_id = svc->svc_id, .slot = bpf_get_prandom_u32() % svc->active };
	struct slot_value *slot;
	struct backend6 *b;
	__u32 id;

	slot = bpf_map_lookup_elem(&enilb_slot6_v2, &k);
	if (!slot) {
		count_drop(DROP_SLOT_MISSING);
		return -1;
	}
	id = slot->backend_id;
	b = bpf_map_lookup_elem(&enilb_be6_v2, &id);
	if (!b) {
		count_drop(DROP_BACKEND_MISSING);
		return -1;
	}
	*be = *b;
	if (be->svc_id != svc->svc_id) {
		count_drop(DROP_BACKEND_MISSING);
		return -1;
	}
	*backend_id = id;
	return 0;
}

/* A new flow (as new_flow): source check, backend, both entries. 0 with ct filled, or -1 with *verdict. */
static __always_inline int new_flow6(struct __sk_buff *skb, const struct tuple6 *t, const struct svc_value *svc,
				     const struct ct6_key *k, struct ct6_value *ct, __u64 now, struct svc_stats *stats,
				     int *verdict)
{
	struct pod6_key pk = { .netns_cookie = k->netns_cookie, .addr = t->saddr };
	struct backend6 be;
	__u32 backend_id;

	*verdict = TC_ACT_SHOT;
	if (!bpf_map_lookup_elem(&enilb_pod6_v2, &pk)) {
		count_drop(DROP_SPOOFED);
		return -1;
	}
	if (svc->active == 0) {
		*verdict = reject6_port_unreachable(skb, t, DROP_NO_BACKEND);
		return -1;
	}
	if (affine_backend6(svc, t, now, &be, &backend_id) && random_backend6(svc, &be, &backend_id))
		return -1;
	remember_affinity6(svc, t, now, backend_id);

	ct->state = ct_initial_state_of(t->proto, t->tcp_flags);
	ct->expires_ns = now + ct_lifetime(ct->state);
	ct->nat_addr = be.addr;
	ct->nat_port = be.port;
	ct->flags = addr6_eq(&be.addr, &t->saddr) ? CT_F_SELF : 0;
	ct->backend_id = backend_id;
	ct->svc_id = svc->svc_id;
	ct->pad = 0;
	if (ct6_store(k, ct, 1)) {
		count_drop(DROP_CT_FULL);
		return -1;
	}
	if (stats)
		stats->new_flows += 1;
	return 0;
}

static __always_inline int translate6(struct __sk_buff *skb, const struct tuple6 *t, const struct ct6_value *ct)
{
	if (nat_rewrite6(skb, t, 1, &ct->nat_addr, ct->nat_port)) {
		count_drop(DROP_REWRITE_FAILED);
		return TC_ACT_SHOT;
	}
	if (frag6_remember(skb, t))
		return TC_ACT_SHOT;
	return (ct->flags & CT_F_SELF) ? to_loopback(skb) : to_next_hop(skb);
}

/* A packet to no frontend: translated when it belongs to a live established TCP flow of a
 * Service deleted meanwhile (as without_frontend). */
static __always_inline int without_frontend6(struct __sk_buff *skb, const struct tuple6 *t)
{
	struct ct6_key k;
	struct ct6_value ct;
	__u64 now;

	if (t->proto != IPPROTO_TCP || tcp_syn_only(t->proto, t->tcp_flags) || !ct6_frontend_range(&t->daddr))
		return TC_ACT_UNSPEC;
	ct6_key_of(&k, pod_netns_cookie(skb), t, CT_DIR_ORIGINAL);
	if (!ct6_live(&k, &ct, &now))
		return TC_ACT_UNSPEC;
	ct6_refresh(&k, &ct, ct_next_state_of(ct.state, t->proto, t->tcp_flags, CT_DIR_ORIGINAL), now);
	return translate6(skb, t, &ct);
}

static __always_inline int is_cluster_ip6(const struct in6_addr *addr)
{
	struct vip6_key k = { .addr = *addr };

	return bpf_map_lookup_elem(&enilb_vip6_v2, &k) != NULL;
}

/* What the pod sends that is no TCP/UDP packet to a frontend (as egress_untranslated, guard.h):
 * ICMPv6 errors about replies go to the backend, nothing else to a ClusterIP leaves. An
 * extension header chain longer than the parser's bound is PARSE_OTHER: dropped and counted
 * when it goes to a ClusterIP, passed otherwise. */
static __always_inline int egress6_untranslated(struct __sk_buff *skb, const struct tuple6 *t, int rc)
{
	__u32 ct_flags = 0;
	int icmp = ICMP_NOT_ERROR;

	if (rc == PARSE_NOT_IPV4)
		return TC_ACT_UNSPEC;
	if (rc == PARSE_OTHER) {
		icmp = icmp6_error_forward(skb, t, &ct_flags);
		if (icmp == 0)
			return (ct_flags & CT_F_SELF) ? to_loopback(skb) : to_next_hop(skb);
		if (icmp > 0)
			return icmp;
	}
	if (!ct6_frontend_range(&t->daddr) || !is_cluster_ip6(&t->daddr))
		return TC_ACT_UNSPEC;
	if (rc == PARSE_LATER_FRAGMENT) {
		count_drop(DROP_FRAG_NO_FIRST);
		return TC_ACT_SHOT;
	}
	if (rc == PARSE_FLOW && t->frag != FRAG_LATER)
		return reject6_port_unreachable(skb, t, DROP_UNTRANSLATABLE);
	count_drop(icmp == ICMP_NO_FLOW ? DROP_ICMP_UNTRANSLATABLE : DROP_UNTRANSLATABLE);
	return TC_ACT_SHOT;
}

/* Tail-called by enilb_egress for every packet that is not IPv4 (family6.h). */
SEC("tc")
int enilb_egress6(struct __sk_buff *skb)
{
	struct tuple6 t;
	struct svc6_key sk = {};
	struct svc_value *p;
	struct svc_value svc;
	struct svc_stats *stats;
	struct ct6_key k;
	struct ct6_value ct;
	__u64 now;
	int verdict;
	int rc;

	rc = parse_flow6(skb, &t);
	if (rc != PARSE_FLOW)
		return egress6_untranslated(skb, &t, rc);
	sk.addr = t.daddr;
	sk.port = t.dport;
	sk.proto = t.proto;
	p = bpf_map_lookup_elem(&enilb_svc6_v2, &sk);
	if (!p) {
		verdict = without_frontend6(skb, &t);
		return verdict != TC_ACT_UNSPEC ? verdict : egress6_untranslated(skb, &t, rc);
	}
	svc = *p;

	stats = svc_stats(svc.svc_id);
	if (stats) {
		stats->packets += 1;
		stats->bytes += skb->len;
	}

	ct6_key_of(&k, pod_netns_cookie(skb), &t, CT_DIR_ORIGINAL);
	if (ct6_live(&k, &ct, &now) && ct6_keeps(&ct, &t, &svc))
		ct6_refresh(&k, &ct, ct_next_state_of(ct.state, t.proto, t.tcp_flags, CT_DIR_ORIGINAL), now);
	else if (new_flow6(skb, &t, &svc, &k, &ct, ct_now(), stats, &verdict))
		return verdict;
	return translate6(skb, &t, &ct);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
