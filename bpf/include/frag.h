/* frag.h: fragments of a translated datagram: the ports of its first fragment, remembered for the later ones. */
#ifndef ENILB_FRAG_H
#define ENILB_FRAG_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "maps.h"
#include "netns.h"
#include "packet.h"

/* The datagram a fragment belongs to, as every one of its fragments carries it: the addresses as
 * they arrive here (before translation), so that the later fragments find what the first left. */
static __always_inline void frag_key_of(struct frag_key *k, struct __sk_buff *skb, const struct tuple4 *t)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->netns_cookie = pod_netns_cookie(skb);
	k->saddr = t->saddr;
	k->daddr = t->daddr;
	k->id = t->ip_id;
	k->proto = t->proto;
}

/* parse_tuple4, and a fragment after the first gets the ports its first fragment carried, so the
 * rest of the datapath (frontend, conntrack) treats it as any packet of its flow: PARSE_FLOW with
 * t->frag == FRAG_LATER. A later fragment whose first was not seen (reordered, or the first was
 * dropped) stays PARSE_LATER_FRAGMENT: nobody can tell which flow it belongs to. */
static __always_inline int parse_flow4(struct __sk_buff *skb, struct tuple4 *t)
{
	struct frag_key k;
	struct frag_value *v;
	int rc = parse_tuple4(skb, t);

	if (rc != PARSE_LATER_FRAGMENT)
		return rc;
	frag_key_of(&k, skb, t);
	v = bpf_map_lookup_elem(&enilb_frag4_v2, &k);
	if (!v)
		return PARSE_LATER_FRAGMENT;
	t->sport = v->sport;
	t->dport = v->dport;
	return PARSE_FLOW;
}

/* After a first fragment was translated: its ports, for the fragments that follow. Returns -1
 * (counted) when the map refused, 0 otherwise. Entries are not deleted at the last fragment:
 * fragments may arrive out of order, and the LRU ages them out. */
static __always_inline int frag_remember(struct __sk_buff *skb, const struct tuple4 *t)
{
	struct frag_key k;
	struct frag_value v = { .sport = t->sport, .dport = t->dport };

	if (t->frag != FRAG_FIRST)
		return 0;
	frag_key_of(&k, skb, t);
	if (bpf_map_update_elem(&enilb_frag4_v2, &k, &v, BPF_ANY)) {
		count_drop(DROP_FRAG_FULL);
		return -1;
	}
	return 0;
}

#endif
