/* icmp.h: ICMP errors about a translated flow, found by the packet they quote and translated like it. */
#ifndef ENILB_ICMP_H
#define ENILB_ICMP_H

#include <stddef.h>
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "maps.h"
#include "netns.h"
#include "packet.h"
#include "conntrack.h"

/* linux/icmp.h drags in libc socket headers that do not build for the BPF target. */
#define ICMP_DEST_UNREACH 3
#define ICMP_PORT_UNREACH 3
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETERPROB 12
#define ICMP_HLEN 8
#define ICMP_CSUM_OFF 2

/* What the icmp_error_* functions return besides a tc verdict. */
#define ICMP_NOT_ERROR -100	/* not an ICMP error quoting TCP/UDP: not this header's business */
#define ICMP_NO_FLOW -101		/* an ICMP error, but about no flow enilb translated */

/* An ICMP error and the packet it quotes (RFC 792: the offending IP header and at least 8 bytes
 * of its payload, which hold the ports; Linux quotes up to 576 bytes in all). */
struct icmp_error {
	struct tuple4 inner;	/* the quoted packet as quoted; inner.l4_off is its frame offset */
	__u32 icmp_off;		/* frame offset of the ICMP header */
	__u32 inner_l3_off;	/* frame offset of the quoted IP header */
	__u32 inner_csum_off;	/* frame offset of the quoted L4 checksum; 0 when the quote ends before it */
};

static __always_inline int icmp_is_error(__u8 type)
{
	return type == ICMP_DEST_UNREACH || type == ICMP_TIME_EXCEEDED || type == ICMP_PARAMETERPROB;
}

/* Parses an ICMP error whose outer header is in outer (parse_tuple4 gave PARSE_OTHER). The quote
 * must be a TCP/UDP packet that is not a later fragment (those carry no ports), with its ports.
 * The quoted L4 checksum is only rewritten when the quote holds it: a TCP header quoted to its
 * first 8 bytes ends before its checksum, as netfilter also notes (nf_nat_proto.c). */
static __always_inline int icmp_parse_error(struct __sk_buff *skb, const struct tuple4 *outer,
					    struct icmp_error *e)
{
	struct iphdr ip;
	__u8 type;
	__u32 csum_at;
	__be16 ports[2];

	if (outer->proto != IPPROTO_ICMP || outer->frag != FRAG_NONE)
		return -1;
	e->icmp_off = outer->l4_off;
	if (bpf_skb_load_bytes(skb, e->icmp_off, &type, sizeof(type)) || !icmp_is_error(type))
		return -1;
	e->inner_l3_off = e->icmp_off + ICMP_HLEN;
	if (bpf_skb_load_bytes(skb, e->inner_l3_off, &ip, sizeof(ip)))
		return -1;
	if (ip.version != 4 || ip.ihl < 5 || (ip.frag_off & bpf_htons(IP_OFFSET)))
		return -1;
	if (ip.protocol != IPPROTO_TCP && ip.protocol != IPPROTO_UDP)
		return -1;
	e->inner.l4_off = e->inner_l3_off + ip.ihl * 4;
	if (bpf_skb_load_bytes(skb, e->inner.l4_off, ports, sizeof(ports)))
		return -1;
	e->inner.saddr = ip.saddr;
	e->inner.daddr = ip.daddr;
	e->inner.sport = ports[0];
	e->inner.dport = ports[1];
	e->inner.proto = ip.protocol;
	e->inner.ip_id = ip.id;
	e->inner.frag = (ip.frag_off & bpf_htons(IP_MF)) ? FRAG_FIRST : FRAG_NONE;
	e->inner.tcp_flags = 0;
	e->inner.pad = 0;
	csum_at = e->inner.l4_off + (ip.protocol == IPPROTO_TCP ? offsetof(struct tcphdr, check)
								 : offsetof(struct udphdr, check));
	e->inner_csum_off = csum_at + sizeof(__sum16) <= skb->len ? csum_at : 0;
	return 0;
}

static __always_inline int load16(struct __sk_buff *skb, __u32 off, __u16 *v)
{
	return bpf_skb_load_bytes(skb, off, v, sizeof(*v));
}

/* The quoted L4 header's port and checksum, each change compensated in the ICMP checksum (see
 * below); both families. The quoted address's share of the L4 checksum comes as
 * bpf_l3_csum_replace's (from, to, size): the two IPv4 addresses and 4, or 0, the IPv6
 * addresses' difference and 0. A UDP checksum of 0 means none and stays 0. */
static __always_inline int icmp_quote_l4(struct __sk_buff *skb, __u32 icmp_csum, __u32 inner_csum_off, __u8 proto,
					 __u64 addr_from, __u64 addr_to, __u64 addr_size, __u32 port_off,
					 __be16 old_port, __be16 new_port)
{
	__u16 before, after;

	if (inner_csum_off) {
		if (load16(skb, inner_csum_off, &before))
			return -1;
		if (proto == IPPROTO_TCP || before != 0) {
			if (bpf_l3_csum_replace(skb, inner_csum_off, addr_from, addr_to, addr_size) ||
			    bpf_l3_csum_replace(skb, inner_csum_off, old_port, new_port, sizeof(new_port)) ||
			    load16(skb, inner_csum_off, &after))
				return -1;
			if (proto == IPPROTO_UDP && after == 0) {
				/* RFC 768: a computed 0 is sent as all ones; 0 would mean "no checksum" */
				after = 0xffff;
				if (bpf_skb_store_bytes(skb, inner_csum_off, &after, sizeof(after), 0))
					return -1;
			}
			if (bpf_l3_csum_replace(skb, icmp_csum, before, after, sizeof(after)))
				return -1;
		}
	}
	if (bpf_skb_store_bytes(skb, port_off, &new_port, sizeof(new_port), 0) ||
	    bpf_l3_csum_replace(skb, icmp_csum, old_port, new_port, sizeof(new_port)))
		return -1;
	return 0;
}

/* Rewrites the quoted packet's source (dst == 0) or destination address and port, and every
 * checksum that covers them: the quoted IP header's, the quoted L4 checksum (pseudo-header
 * address and port; a UDP checksum of 0 means none and stays 0), and the ICMP checksum over all
 * of it. bpf_l3_csum_replace only updates the 16-bit field it is given, never skb->csum, which is
 * what a checksum inside the payload needs: each change inside the ICMP message is compensated
 * by the ICMP checksum, so the message's sum (and a CHECKSUM_COMPLETE skb's csum) stays right. */
static __always_inline int icmp_rewrite_quote(struct __sk_buff *skb, const struct icmp_error *e, int dst,
					      __be32 new_addr, __be16 new_port)
{
	__u32 icmp_csum = e->icmp_off + ICMP_CSUM_OFF;
	__u32 ip_csum = e->inner_l3_off + offsetof(struct iphdr, check);
	__u32 addr_off = e->inner_l3_off + (dst ? offsetof(struct iphdr, daddr) : offsetof(struct iphdr, saddr));
	__u32 port_off = e->inner.l4_off + (dst ? offsetof(struct udphdr, dest) : offsetof(struct udphdr, source));
	__be32 old_addr = dst ? e->inner.daddr : e->inner.saddr;
	__be16 old_port = dst ? e->inner.dport : e->inner.sport;
	__u16 before, after;

	if (load16(skb, ip_csum, &before) || bpf_l3_csum_replace(skb, ip_csum, old_addr, new_addr, sizeof(new_addr)) ||
	    load16(skb, ip_csum, &after) || bpf_skb_store_bytes(skb, addr_off, &new_addr, sizeof(new_addr), 0))
		return -1;
	if (bpf_l3_csum_replace(skb, icmp_csum, old_addr, new_addr, sizeof(new_addr)) ||
	    bpf_l3_csum_replace(skb, icmp_csum, before, after, sizeof(after)))
		return -1;
	return icmp_quote_l4(skb, icmp_csum, e->inner_csum_off, e->inner.proto, old_addr, new_addr, sizeof(new_addr),
			     port_off, old_port, new_port);
}

/* Rewrites the outer source (dst == 0) or destination address. ICMP has no pseudo-header: only
 * the outer IP checksum covers it. */
static __always_inline int icmp_rewrite_outer(struct __sk_buff *skb, int dst, __be32 old_addr, __be32 new_addr)
{
	__u32 off = L3_OFF + (dst ? offsetof(struct iphdr, daddr) : offsetof(struct iphdr, saddr));

	if (bpf_l3_csum_replace(skb, L3_OFF + offsetof(struct iphdr, check), old_addr, new_addr, sizeof(new_addr)))
		return -1;
	return bpf_skb_store_bytes(skb, off, &new_addr, sizeof(new_addr), 0);
}

#define IC_TUPLE struct tuple4
#define IC_ERROR struct icmp_error
#define IC_CT_KEY struct ct_key
#define IC_CT_VALUE struct ct_value
#define IC_FN(name) icmp_##name
#define IC_CT(name) ct_##name
#define IC_ADDR_EQ(a, b) ((a) == (b))
#define IC_REWRITE_OUTER(skb, e, dst, old, new) icmp_rewrite_outer(skb, dst, old, new)
#define IC_REWRITE_QUOTE(skb, e, dst, addr, port) icmp_rewrite_quote(skb, e, dst, addr, port)
#include "icmp_family.h"

#endif
