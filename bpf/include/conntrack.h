/* conntrack.h: the flow table: entries per direction, their TCP state and lifetime, their twins. */
#ifndef ENILB_CONNTRACK_H
#define ENILB_CONNTRACK_H

#include <linux/in.h>
#include <linux/pkt_cls.h>
#include "maps.h"
#include "nat.h"
#include "netns.h"
#include "packet.h"

#define NSEC_PER_SEC 1000000000ULL

/* Lifetimes when the daemon configured none (Cilium's; kube-proxy keeps established TCP 24 h). */
#define CT_DEFAULT_SYN_NS (60 * NSEC_PER_SEC)
#define CT_DEFAULT_ESTABLISHED_NS (6 * 3600 * NSEC_PER_SEC)
#define CT_DEFAULT_CLOSING_NS (10 * NSEC_PER_SEC)
#define CT_DEFAULT_OTHER_NS (60 * NSEC_PER_SEC)

/* The coarse CLOCK_MONOTONIC of this CPU as read at the current tick (jiffy).
 * Lifetimes are seconds, so a tick's resolution is plenty. A helper call costs ~10 ns here
 * (every kernel return pays the SRSO mitigation), bpf_ktime_get_ns more; bpf_jiffies64() is
 * inlined by the verifier into one load, so the clock is called once per tick and CPU, not per
 * packet. Same clock as user space's System.nanoTime(), which the GC compares expiries with
 * (this one lags it by up to a tick). */
static __always_inline __u64 ct_now(void)
{
	__u32 zero = 0;
	__u64 jiffies = bpf_jiffies64();
	struct clock_cache *c = bpf_map_lookup_elem(&enilb_clock, &zero);

	if (!c)
		return bpf_ktime_get_coarse_ns();
	if (c->jiffies != jiffies) {
		c->now_ns = bpf_ktime_get_coarse_ns();
		c->jiffies = jiffies;
	}
	return c->now_ns;
}

/* Whether a packet to daddr, which is no frontend, could still belong to a flow of one. The
 * two fields are read without a copy: the daemon writes the config at start, and a read torn
 * by a rewrite costs one packet a needless lookup, or (a deleted Service's flow only) leaves one
 * packet untranslated, which TCP retransmits. */
static __always_inline int ct_frontend_range(__be32 daddr)
{
	__u32 zero = 0;
	struct ct_config *cfg = bpf_map_lookup_elem(&enilb_cfg4_v2, &zero);

	return !cfg || (daddr & cfg->frontend_mask) == cfg->frontend_net;
}

static __always_inline __u64 ct_lifetime(__u8 state)
{
	__u32 zero = 0;
	struct ct_config *cfg = bpf_map_lookup_elem(&enilb_cfg4_v2, &zero);
	__u64 ns = 0;

	switch (state) {
	case CT_SYN_SENT:
		ns = cfg ? cfg->syn_ns : 0;
		return ns ? ns : CT_DEFAULT_SYN_NS;
	case CT_ESTABLISHED:
		ns = cfg ? cfg->established_ns : 0;
		return ns ? ns : CT_DEFAULT_ESTABLISHED_NS;
	case CT_CLOSING:
		ns = cfg ? cfg->closing_ns : 0;
		return ns ? ns : CT_DEFAULT_CLOSING_NS;
	default:
		ns = cfg ? cfg->other_ns : 0;
		return ns ? ns : CT_DEFAULT_OTHER_NS;
	}
}

/* The state a flow's first packet puts it in (a TCP flow may be picked up mid-stream, e.g.
 * after its entry expired while idle). */
static __always_inline __u8 ct_initial_state_of(__u8 proto, __u8 tcp_flags)
{
	if (proto != IPPROTO_TCP)
		return CT_OTHER;
	if (tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST))
		return CT_CLOSING;
	return tcp_syn_only(proto, tcp_flags) ? CT_SYN_SENT : CT_ESTABLISHED;
}

static __always_inline __u8 ct_initial_state(const struct tuple4 *t)
{
	return ct_initial_state_of(t->proto, t->tcp_flags);
}

/* The state after a packet of the flow in direction dir: anything from the backend or more
 * than a SYN from the client establishes; a FIN or RST either way closes; a client's SYN on
 * a closing tuple is a new connection. */
static __always_inline __u8 ct_next_state_of(__u8 state, __u8 proto, __u8 tcp_flags, __u8 dir)
{
	if (proto != IPPROTO_TCP)
		return CT_OTHER;
	if (tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST))
		return CT_CLOSING;
	if (tcp_syn_only(proto, tcp_flags) && dir == CT_DIR_ORIGINAL)
		return state == CT_CLOSING ? CT_SYN_SENT : state;
	return state == CT_SYN_SENT ? CT_ESTABLISHED : state;
}

static __always_inline __u8 ct_next_state(__u8 state, const struct tuple4 *t, __u8 dir)
{
	return ct_next_state_of(state, t->proto, t->tcp_flags, dir);
}

/* The key of a packet as it is, in direction dir, of the pod in namespace cookie. */
static __always_inline void ct_key_of(struct ct_key *k, __u64 cookie, const struct tuple4 *t, __u8 dir)
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

#define CT_KEY struct ct_key
#define CT_VALUE struct ct_value
#define CT_MAP enilb_ct4_v2
#define CT_FN(name) ct_##name
#include "conntrack_family.h"
#undef CT_KEY
#undef CT_VALUE
#undef CT_MAP
#undef CT_FN

/* Translates a reply (backend -> client, parsed into t) back to ClusterIP -> client from its
 * conntrack entry. Returns the tc verdict: TC_ACT_UNSPEC for a packet of no live enilb flow (or
 * without wanted_flags), so that the next filter on the hook sees it. */
static __always_inline int reverse_nat(struct __sk_buff *skb, const struct tuple4 *t, __u8 wanted_flags)
{
	struct ct_key k;
	struct ct_value ct;
	__u64 now;

	ct_key_of(&k, pod_netns_cookie(skb), t, CT_DIR_REPLY);
	if (!ct_live(&k, &ct, &now) || (ct.flags & wanted_flags) != wanted_flags)
		return TC_ACT_UNSPEC;
	ct_refresh(&k, &ct, ct_next_state(ct.state, t, CT_DIR_REPLY), now);
	if (nat_rewrite4(skb, t, 0, ct.nat_addr, ct.nat_port)) {
		count_drop(DROP_REWRITE_FAILED);
		return TC_ACT_SHOT;
	}
	return TC_ACT_OK;
}

#endif
