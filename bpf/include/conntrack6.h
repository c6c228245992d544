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

/* The other direction's entry, derived from one entry alone (as ct_twin). */
static __always_inline void ct6_twin(const struct ct6_key *k, const struct ct6_value *v, struct ct6_key *tk,
				     struct ct6_value *tv)
{
	*tv = *v;
	tk->netns_cookie = k->netns_cookie;
	tk->proto = k->proto;
	tk->pad = 0;
	if (k->dir == CT_DIR_ORIGINAL) {
		tk->dir = CT_DIR_REPLY;
		tk->saddr = v->nat_addr;
		tk->sport = v->nat_port;
		tk->daddr = k->saddr;
		tk->dport = k->sport;
		tv->nat_addr = k->daddr;
		tv->nat_port = k->dport;
	} else {
		tk->dir = CT_DIR_ORIGINAL;
		tk->saddr = k->daddr;
		tk->sport = k->dport;
		tk->daddr = v->nat_addr;
		tk->dport = v->nat_port;
		tv->nat_addr = k->saddr;
		tv->nat_port = k->sport;
	}
}

/* A copy of the live entry under k (expired counts as absent; see ct_live). Sets *now. */
static __always_inline int ct6_live(struct ct6_key *k, struct ct6_value *v, __u64 *now)
{
	struct ct6_value *p = bpf_map_lookup_elem(&enilb_ct6_v2, k);

	if (!p)
		return 0;
	*v = *p;
	*now = ct_now();
	return v->expires_ns >= *now;
}

/* Both entries of a flow, the twin first (see ct_store). Returns 0 or the negative errno. */
static __always_inline int ct6_store(const struct ct6_key *k, const struct ct6_value *v, int fresh)
{
	struct ct6_key tk;
	struct ct6_value tv;
	int err;

	ct6_twin(k, v, &tk, &tv);
	err = bpf_map_update_elem(&enilb_ct6_v2, &tk, &tv, BPF_ANY);
	if (err)
		return err;
	err = bpf_map_update_elem(&enilb_ct6_v2, k, v, BPF_ANY);
	if (err && fresh)
		bpf_map_delete_elem(&enilb_ct6_v2, &tk);
	return err;
}

/* As ct_refresh: writes only on a state change or an expiry more than 1/8 of the lifetime behind. */
static __always_inline void ct6_refresh(const struct ct6_key *k, struct ct6_value *v, __u8 state, __u64 now)
{
	__u64 lifetime = ct_lifetime(state);

	if (state == v->state && now + lifetime - v->expires_ns <= lifetime / 8)
		return;
	v->state = state;
	v->expires_ns = now + lifetime;
	ct6_store(k, v, 0);
}

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
