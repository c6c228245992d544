/* nat.h: rewriting an IPv4 address and port with checksums kept right, offload or not. */
#ifndef ENILB_NAT_H
#define ENILB_NAT_H

#include <stddef.h>
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include "packet.h"

/* Rewrites a TCP/UDP port and its checksum (the port is not in the pseudo-header); both families. */
static __always_inline int nat_rewrite_port(struct __sk_buff *skb, __u32 csum_off, __u32 port_off,
					    __be16 old_port, __be16 new_port, __u64 l4_flags)
{
	if (old_port == new_port)
		return 0;
	if (bpf_l4_csum_replace(skb, csum_off, old_port, new_port, l4_flags | sizeof(new_port)))
		return -1;
	return bpf_skb_store_bytes(skb, port_off, &new_port, sizeof(new_port), 0) ? -1 : 0;
}

/* Rewrites the destination (dst != 0) or source address and port of the packet parsed into t.
 * bpf_l4_csum_replace with BPF_F_PSEUDO_HDR handles both checksum states: with CHECKSUM_PARTIAL
 * (veth's default, offload on) the field holds only the pseudo-header sum and is updated as
 * such; otherwise the full checksum is. BPF_F_MARK_MANGLED_0 leaves a UDP checksum of zero
 * (no checksum) at zero and turns a computed zero into 0xffff, as RFC 768 requires.
 * A fragment after the first carries no L4 header: only its addresses change. The L4 checksum
 * in the first fragment covers the whole datagram, pseudo-header included, so updating it there
 * accounts for the new address in every fragment. */
static __always_inline int nat_rewrite4(struct __sk_buff *skb, const struct tuple4 *t, int dst,
					__be32 new_addr, __be16 new_port)
{
	__u32 l4_off = t->l4_off;
	__u32 csum_off = l4_off + (t->proto == IPPROTO_TCP ? offsetof(struct tcphdr, check)
							    : offsetof(struct udphdr, check));
	__u32 addr_off = L3_OFF + (dst ? offsetof(struct iphdr, daddr) : offsetof(struct iphdr, saddr));
	__u32 port_off = l4_off + (dst ? offsetof(struct tcphdr, dest) : offsetof(struct tcphdr, source));
	__u64 l4_flags = t->proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
	__be32 old_addr = dst ? t->daddr : t->saddr;
	__be16 old_port = dst ? t->dport : t->sport;
	int has_l4 = t->frag != FRAG_LATER;

	if (old_addr != new_addr) {
		if (has_l4 && bpf_l4_csum_replace(skb, csum_off, old_addr, new_addr,
						  l4_flags | BPF_F_PSEUDO_HDR | sizeof(new_addr)))
			return -1;
		if (bpf_l3_csum_replace(skb, L3_OFF + offsetof(struct iphdr, check), old_addr, new_addr,
					sizeof(new_addr)))
			return -1;
		if (bpf_skb_store_bytes(skb, addr_off, &new_addr, sizeof(new_addr), 0))
			return -1;
	}
	if (has_l4)
		return nat_rewrite_port(skb, csum_off, port_off, old_port, new_port, l4_flags);
	return 0;
}

#endif
