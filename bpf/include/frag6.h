/* frag6.h: IPv6 fragments (the fragment extension header) of a translated datagram: the first fragment's ports for the later ones. */
#ifndef ENILB_FRAG6_H
#define ENILB_FRAG6_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "maps.h"
#include "netns.h"
#include "packet6.h"

static __always_inline void frag6_key_of(struct frag6_key *k, struct __sk_buff *skb, const struct tuple6 *t)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->netns_cookie = pod_netns_cookie(skb);
	k->saddr = t->saddr;
	k->daddr = t->daddr;
	k->id = t->frag_id;
	k->proto = t->proto;
}

/* parse_tuple6, and a later fragment gets its first fragment's ports (as parse_flow4). */
static __always_inline int parse_flow6(struct __sk_buff *skb, struct tuple6 *t)
{
	struct frag6_key k;
	struct frag_value *v;
	int rc = parse_tuple6(skb, t);

	if (rc != PARSE_LATER_FRAGMENT)
		return rc;
	frag6_key_of(&k, skb, t);
	v = bpf_map_lookup_elem(&enilb_frag6_v2, &k);
	if (!v)
		return PARSE_LATER_FRAGMENT;
	t->sport = v->sport;
	t->dport = v->dport;
	return PARSE_FLOW;
}

/* After a first fragment was translated: its ports, for the fragments that follow (as frag_remember). */
static __always_inline int frag6_remember(struct __sk_buff *skb, const struct tuple6 *t)
{
	struct frag6_key k;
	struct frag_value v = { .sport = t->sport, .dport = t->dport };

	if (t->frag != FRAG_FIRST)
		return 0;
	frag6_key_of(&k, skb, t);
	if (bpf_map_update_elem(&enilb_frag6_v2, &k, &v, BPF_ANY)) {
		count_drop(DROP_FRAG_FULL);
		return -1;
	}
	return 0;
}

#endif
