/* conntrack_family.h: one family's conntrack entry operations (twin, live lookup, store, refresh), written once for both. */
/* No include guard: conntrack.h includes it for IPv4 and conntrack6.h for IPv6, each after defining
 *   CT_KEY, CT_VALUE  the family's key and value structs (same members, addresses of its width),
 *   CT_MAP            the family's conntrack map,
 *   CT_FN(name)       the family's name for each function (ct_twin / ct6_twin ...);
 * and undefines them after. The rules (twins, expiry, refresh) are the family-independent part of
 * the flow table; only the types and the map differ. */

/* The other direction's entry, derived from one entry alone: the original's translation is
 * the reply's source and the reply's translation the original's destination. */
static __always_inline void CT_FN(twin)(const CT_KEY *k, const CT_VALUE *v, CT_KEY *tk, CT_VALUE *tv)
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

/* Copies the entry under k to v: 0, or -1 when there is none. The copy is what the packet
 * uses: the element may be recycled by a concurrent update. */
static __always_inline int CT_FN(lookup)(const CT_KEY *k, CT_VALUE *v)
{
	CT_VALUE *p = bpf_map_lookup_elem(&CT_MAP, k);

	if (!p)
		return -1;
	*v = *p;
	return 0;
}

/* An expired entry counts as absent: the next write of its tuple replaces it, the GC removes
 * the rest. Sets *now (the clock is read only for packets that found an entry). */
static __always_inline int CT_FN(live)(CT_KEY *k, CT_VALUE *v, __u64 *now)
{
	if (CT_FN(lookup)(k, v))
		return 0;
	*now = ct_now();
	return v->expires_ns >= *now;
}

/* Writes both entries of a flow, the twin first: a new flow's original entry goes last, so
 * that once later packets find it their replies are already translatable. A new flow that
 * does not fit leaves nothing behind; an existing key is always replaced, even in a full
 * table. Returns 0 or the negative errno (E2BIG: full). */
static __always_inline int CT_FN(store)(const CT_KEY *k, const CT_VALUE *v, int fresh)
{
	CT_KEY tk;
	CT_VALUE tv;
	int err;

	CT_FN(twin)(k, v, &tk, &tv);
	err = bpf_map_update_elem(&CT_MAP, &tk, &tv, BPF_ANY);
	if (err)
		return err;
	err = bpf_map_update_elem(&CT_MAP, k, v, BPF_ANY);
	if (err && fresh)
		bpf_map_delete_elem(&CT_MAP, &tk);
	return err;
}

/* After a packet of a live flow: a changed state, or an expiry more than 1/8 of the lifetime
 * behind, rewrites both entries (re-creating a twin that went missing); any other packet
 * writes nothing, so a busy flow does not cost a map update per packet. */
static __always_inline void CT_FN(refresh)(const CT_KEY *k, CT_VALUE *v, __u8 state, __u64 now)
{
	__u64 lifetime = ct_lifetime(state);

	/* unsigned: a lifetime configured shorter than the one stored also refreshes */
	if (state == v->state && now + lifetime - v->expires_ns <= lifetime / 8)
		return;
	v->state = state;
	v->expires_ns = now + lifetime;
	CT_FN(store)(k, v, 0);
}
