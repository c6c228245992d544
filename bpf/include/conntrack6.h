/* conntrack6.h: the IPv6 flow table: conntrack.h's entries, states, lifetimes and twins with IPv6 keys. */
#ifndef ENILB_CONNTRACK6_H
#define ENILB_CONNTRACK6_H

#include <linux/in.h>
#include <linux/pkt_cls.h>
#include "maps.h"
#include "netns.h"
#include "packet6.h"
#include "nat6.h"
#include "conntrack.h"

/* Whether a packet to daddr, which is no frontend, could still belong to a flow of one (the
 * IPv6 Service CIDR, enilb_cfg6_v2; none configured: anywhere). */
static __always_inline int ct6_frontend_range(const struct in6_addr *daddr)
{
	__u32 zero = 0;
	struct frontend_prefix6 *cfg = bpf_map_lookup_elem(&enilb_cfg6_v2, &zero);
	const __u64 *a = (const __u64 *)daddr;
	const __u64 *net;
	const __u64 *mask;

	if (!cfg)
		return 1;
	net = (const __u64 *)&cfg->net;
	mask = (const __u64 *)&cfg->mask;
	return (a[0] & mask[0]) == net[0] && (a[1] & mask[1]) == net[1];
}

static __always_inline void ct6_key_of(struct ct6_key *k, __u64 cookie, const struct tuple6 *t, __u8 dir)
{
	k->netns_cookie = cookie;
	k->saddr = t->saddr;
	k->daddr = t->daddr;
	k->sport = t->sport;
	k->dport = t->dport;
	k->proto = t->proto;
	k->dir = dir;
	k->pad = 0;
}

/* ct6_twin, ct6_lookup, ct6_live, ct6_store, ct6_refresh: conntrack.h's rules on the IPv6 table */
#define CT_KEY struct ct6_key
#define CT_VALUE struct ct6_value
#define CT_MAP enilb_ct6_v2
#define CT_FN(name) ct6_##name
#include "conntrack_family.h"
#undef CT_KEY
#undef CT_VALUE
#undef CT_MAP
#undef CT_FN

/* Translates an IPv6 reply back to ClusterIP -> client from its conntrack entry (as reverse_nat). */
static __always_inline int reverse_nat6(struct __sk_buff *skb, const struct tuple6 *t, __u8 wanted_flags)
{
	struct ct6_key k;
	struct ct6_value ct;
	__u64 now;

	ct6_key_of(&k, pod_netns_cookie(skb), t, CT_DIR_REPLY);
	if (!ct6_live(&k, &ct, &now) || (ct.flags & wanted_flags) != wanted_flags)
		return TC_ACT_UNSPEC;
	ct6_refresh(&k, &ct, ct_next_state_of(ct.state, t->proto, t->tcp_flags, CT_DIR_REPLY), now);
	if (nat_rewrite6(skb, t, 0, &ct.nat_addr, ct.nat_port)) {
		count_drop(DROP_REWRITE_FAILED);
		return TC_ACT_SHOT;
	}
	return TC_ACT_OK;
}

#endif
