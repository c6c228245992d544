/* conntrack.h: the flow table: which backend a flow uses and how its replies are translated back. */
#ifndef ENILB_CONNTRACK_H
#define ENILB_CONNTRACK_H

#include "maps.h"
#include "packet.h"

static __always_inline void ct_key_original(struct ct_key *k, const struct tuple4 *t)
{
	k->saddr = t->saddr;
	k->daddr = t->daddr;
	k->sport = t->sport;
	k->dport = t->dport;
	k->proto = t->proto;
	k->dir = CT_DIR_ORIGINAL;
	k->pad = 0;
}

/* The key under which the reply of a flow is found: from the backend to the client. */
static __always_inline void ct_key_reply_of(struct ct_key *k, const struct tuple4 *t,
					    const struct backend *be)
{
	k->saddr = be->addr;
	k->daddr = t->saddr;
	k->sport = be->port;
	k->dport = t->sport;
	k->proto = t->proto;
	k->dir = CT_DIR_REPLY;
	k->pad = 0;
}

/* The key a packet arriving from a backend carries as it is. */
static __always_inline void ct_key_reply(struct ct_key *k, const struct tuple4 *t)
{
	k->saddr = t->saddr;
	k->daddr = t->daddr;
	k->sport = t->sport;
	k->dport = t->dport;
	k->proto = t->proto;
	k->dir = CT_DIR_REPLY;
	k->pad = 0;
}

/* Records both directions of a new flow. The reply entry goes first: once the original entry
 * exists later packets skip selection, and their replies must already be translatable. */
static __always_inline int ct_create(const struct tuple4 *t, const struct backend *be,
				     __u32 backend_id, __u32 svc_id, __u32 flags)
{
	struct ct_key k;
	struct ct_value v = {
		.backend_id = backend_id,
		.svc_id = svc_id,
		.flags = flags,
		.pad = 0,
	};

	ct_key_reply_of(&k, t, be);
	if (bpf_map_update_elem(&enilb_ct4_v1, &k, &v, BPF_ANY))
		return -1;
	ct_key_original(&k, t);
	if (bpf_map_update_elem(&enilb_ct4_v1, &k, &v, BPF_ANY))
		return -1;
	return 0;
}

/* Translates a reply (backend -> client, parsed into t) back to ClusterIP -> client. Returns 1
 * when the packet belonged to an enilb flow (and wanted_flags matched), 0 when not, -1 on failure. */
static __always_inline int reverse_nat(struct __sk_buff *skb, const struct tuple4 *t, __u32 wanted_flags)
{
	struct ct_key k;
	struct ct_value *ct;
	struct revnat_value *rn;

	ct_key_reply(&k, t);
	ct = bpf_map_lookup_elem(&enilb_ct4_v1, &k);
	if (!ct || (ct->flags & wanted_flags) != wanted_flags)
		return 0;
	rn = bpf_map_lookup_elem(&enilb_rnat4_v1, &ct->svc_id);
	if (!rn)
		return 0;
	if (nat_rewrite4(skb, t, 0, rn->addr, rn->port)) {
		count_drop(DROP_REWRITE_FAILED);
		return -1;
	}
	return 1;
}

#endif
