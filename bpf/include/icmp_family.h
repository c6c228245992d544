/* icmp_family.h: finding the flow an ICMP error quotes and translating the error both ways, written once for ICMP and ICMPv6. */
/* No include guard: icmp.h includes it for IPv4 and icmp6.h for IPv6, each after defining the
 * family's IC_TUPLE, IC_ERROR (the parsed error), IC_CT_KEY, IC_CT_VALUE, IC_FN(name) (icmp_flow /
 * icmp6_flow ...; IC_FN(parse_error) is the family's parser), IC_CT(name) (its conntrack
 * functions), IC_ADDR_EQ(a, b) on address lvalues, IC_REWRITE_OUTER(skb, e, dst, old, new) and
 * IC_REWRITE_QUOTE(skb, e, dst, addr, port) (addresses as lvalues). What differs between the
 * families is the parsing and the checksums (ICMPv6 has a pseudo-header, IPv6 no header
 * checksum); which entry answers an error and what it is rewritten to does not. The macros
 * are undefined at the end, ready for the next family. */

/* The live conntrack entry of the flow a quoted packet belongs to, in direction dir: the quote
 * seen from the other side (its source is the key's destination). Errors do not refresh it. */
static __always_inline int IC_FN(flow)(struct __sk_buff *skb, const IC_ERROR *e, __u8 dir, IC_CT_VALUE *ct)
{
	IC_CT_KEY k = {
		.netns_cookie = pod_netns_cookie(skb),
		.saddr = e->inner.daddr,
		.daddr = e->inner.saddr,
		.sport = e->inner.dport,
		.dport = e->inner.sport,
		.proto = e->inner.proto,
		.dir = dir,
		.pad = 0,
	};
	__u64 now;

	return IC_CT(live)(&k, ct, &now) ? 0 : -1;
}

/* An ICMP error arriving for the pod (NIC ingress, or loopback egress for self-access with
 * wanted_flags = CT_F_SELF) about a packet the pod sent to a ClusterIP: the quoted destination
 * becomes the ClusterIP:port again, and so does the outer source when the backend itself sent
 * the error (port unreachable); a router's address (fragmentation needed, time exceeded) stays.
 * The pod's stack then matches the error to its socket (ECONNREFUSED, a lower path MTU towards
 * the ClusterIP). Returns TC_ACT_OK when translated, TC_ACT_SHOT on failure (counted), or
 * ICMP_NOT_ERROR / ICMP_NO_FLOW. */
static __always_inline int IC_FN(error_reverse)(struct __sk_buff *skb, const IC_TUPLE *outer, __u32 wanted_flags)
{
	IC_ERROR e;
	IC_CT_VALUE ct;

	if (IC_FN(parse_error)(skb, outer, &e))
		return ICMP_NOT_ERROR;
	/* the quote is client -> backend: its flow's reply entry holds the ClusterIP:port */
	if (IC_FN(flow)(skb, &e, CT_DIR_REPLY, &ct) || (ct.flags & wanted_flags) != wanted_flags)
		return ICMP_NO_FLOW;
	if (IC_ADDR_EQ(outer->saddr, e.inner.daddr) && IC_REWRITE_OUTER(skb, &e, 0, outer->saddr, ct.nat_addr))
		goto fail;
	if (IC_REWRITE_QUOTE(skb, &e, 1, ct.nat_addr, ct.nat_port))
		goto fail;
	return TC_ACT_OK;
fail:
	count_drop(DROP_REWRITE_FAILED);
	return TC_ACT_SHOT;
}

/* An ICMP error the pod sends about a reply it received from a ClusterIP (NIC egress): the
 * quoted source becomes the backend's address:port and the outer destination the backend, as
 * netfilter translates it, so the backend learns about it. *ct_flags tells the caller where the
 * packet goes (CT_F_SELF: loopback). Returns 0 when translated, TC_ACT_SHOT on failure
 * (counted), or ICMP_NOT_ERROR / ICMP_NO_FLOW. */
static __always_inline int IC_FN(error_forward)(struct __sk_buff *skb, const IC_TUPLE *outer, __u32 *ct_flags)
{
	IC_ERROR e;
	IC_CT_VALUE ct;

	if (IC_FN(parse_error)(skb, outer, &e))
		return ICMP_NOT_ERROR;
	/* the quote is ClusterIP -> client: its flow's original entry holds the backend */
	if (IC_FN(flow)(skb, &e, CT_DIR_ORIGINAL, &ct))
		return ICMP_NO_FLOW;
	if (IC_ADDR_EQ(outer->daddr, e.inner.saddr) && IC_REWRITE_OUTER(skb, &e, 1, outer->daddr, ct.nat_addr))
		goto fail;
	if (IC_REWRITE_QUOTE(skb, &e, 0, ct.nat_addr, ct.nat_port))
		goto fail;
	*ct_flags = ct.flags;
	return 0;
fail:
	count_drop(DROP_REWRITE_FAILED);
	return TC_ACT_SHOT;
}

#undef IC_TUPLE
#undef IC_ERROR
#undef IC_CT_KEY
#undef IC_CT_VALUE
#undef IC_FN
#undef IC_CT
#undef IC_ADDR_EQ
#undef IC_REWRITE_OUTER
#undef IC_REWRITE_QUOTE
