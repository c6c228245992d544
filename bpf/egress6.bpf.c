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
#include "events.h"
#include "select6.h"

#define EV_EVENT struct flow_event6
#define EV_CT_KEY struct ct6_key
#define EV_CT_VALUE struct ct6_value
#define EV_FN(name) name##6
#include "events_family.h"

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
		return reject6(skb, t, DROP_UNTRANSLATABLE);
	count_drop(icmp == ICMP_NO_FLOW ? DROP_ICMP_UNTRANSLATABLE : DROP_UNTRANSLATABLE);
	return TC_ACT_SHOT;
}

/* The egress logic of both families is egress_family.h; select6.h and these make it IPv6. */
#define EG_TUPLE struct tuple6
#define EG_SVC_KEY struct svc6_key
#define EG_POD_KEY struct pod6_key
#define EG_CT_KEY struct ct6_key
#define EG_CT_VALUE struct ct6_value
#define EG_SVC_MAP enilb_svc6_v2
#define EG_POD_MAP enilb_pod6_v2
#define EG_CT(name) ct6_##name
#define EG_DNAT(skb, t, ct) nat_rewrite6(skb, t, 1, &(ct)->nat_addr, (ct)->nat_port)
#define EG_REJECT(skb, t, reason) reject6(skb, t, reason)
#define EG_FRAG_REMEMBER(skb, t) frag6_remember(skb, t)
#define EG_FRONTEND_RANGE(t) ct6_frontend_range(&(t)->daddr)
/* the kfunc behind netns_cookie_inline may be referenced by one object only (netns.h) */
#define EG_COOKIE(skb) pod_netns_cookie(skb)
#define EG_UNTRANSLATED(skb, t, rc) egress6_untranslated(skb, t, rc)
#define EG_CT_CLEAR_PAD(ct) ((ct)->pad = 0)
#define EG_EVENT_REFUSED(k, svc_id, type, reason, now) flow_event_refused6(k, svc_id, type, reason, now)
#define EG_EVENT_NEW(k, ct, via, now) flow_event_new6(k, ct, via, now)
#include "egress_family.h"

/* Tail-called by enilb_egress for every packet that is not IPv4 (family6.h). */
SEC("tc")
int enilb_egress6(struct __sk_buff *skb)
{
	struct tuple6 t;
	int rc = parse_flow6(skb, &t);

	return egress_flow6(skb, &t, rc);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
