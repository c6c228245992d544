/* nat6.h: rewriting an IPv6 address and port with the upper-layer checksum kept right, offload or not. */
#ifndef ENILB_NAT6_H
#define ENILB_NAT6_H

#include <stddef.h>
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include "packet6.h"
#include "nat.h"

/* The 32-bit one's complement difference between two addresses, for the *_csum_replace helpers
 * with size 0 (which take a precomputed difference: they only take 2 or 4 bytes otherwise). */
static __always_inline __s64 addr6_csum_diff(const struct in6_addr *from, const struct in6_addr *to)
{
	return bpf_csum_diff((__be32 *)from, sizeof(*from), (__be32 *)to, sizeof(*to), 0);
}

/* Stores an IPv6 address into the packet. IPv6 has no header checksum to balance the change,
 * so a CHECKSUM_COMPLETE skb's csum is updated for these bytes (BPF_F_RECOMPUTE_CSUM; no work
 * in the other checksum states). */
static __always_inline int store_addr6(struct __sk_buff *skb, __u32 off, const struct in6_addr *addr)
{
	return bpf_skb_store_bytes(skb, off, addr, sizeof(*addr), BPF_F_RECOMPUTE_CSUM);
}

/* Rewrites the destination (dst != 0) or source address and port of the packet parsed into t.
 * The address is in the L4 pseudo-header: bpf_l4_csum_replace with BPF_F_PSEUDO_HDR updates a
 * CHECKSUM_PARTIAL field (pseudo-header sum only, veth with offload) as well as a full one.
 * A later fragment has no L4 header: only its address changes (the first fragment's checksum
 * covers the datagram). UDP: a zero result becomes 0xffff (BPF_F_MARK_MANGLED_0). */
static __always_inline int nat_rewrite6(struct __sk_buff *skb, const struct tuple6 *t, int dst,
					const struct in6_addr *new_addr, __be16 new_port)
{
	__u32 l4_off = t->l4_off;
	__u32 csum_off = l4_off + (t->proto == IPPROTO_TCP ? offsetof(struct tcphdr, check)
							    : offsetof(struct udphdr, check));
	__u32 addr_off = L3_OFF + (dst ? offsetof(struct ipv6hdr, daddr) : offsetof(struct ipv6hdr, saddr));
	__u32 port_off = l4_off + (dst ? offsetof(struct tcphdr, dest) : offsetof(struct tcphdr, source));
	__u64 l4_flags = t->proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
	const struct in6_addr *old_addr = dst ? &t->daddr : &t->saddr;
	__be16 old_port = dst ? t->dport : t->sport;
	int has_l4 = t->frag != FRAG_LATER;

	if (!addr6_eq(old_addr, new_addr)) {
		__s64 diff = addr6_csum_diff(old_addr, new_addr);

		if (diff < 0)
			return -1;
		if (has_l4 && bpf_l4_csum_replace(skb, csum_off, 0, diff, l4_flags | BPF_F_PSEUDO_HDR))
			return -1;
		if (store_addr6(skb, addr_off, new_addr))
			return -1;
	}
	if (has_l4)
		return nat_rewrite_port(skb, csum_off, port_off, old_port, new_port, l4_flags);
	return 0;
}

#endif
