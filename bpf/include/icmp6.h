/* icmp6.h: ICMPv6 errors about a translated IPv6 flow, found by the packet they quote and translated like it. */
#ifndef ENILB_ICMP6_H
#define ENILB_ICMP6_H

#include <stddef.h>
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "maps.h"
#include "netns.h"
#include "packet6.h"
#include "nat6.h"
#include "conntrack6.h"
#include "icmp.h"

/* RFC 4443 error types; informational messages (echo, neighbour discovery) are >= 128. */
#define ICMPV6_DEST_UNREACH 1
#define ICMPV6_PORT_UNREACH 4
#define ICMPV6_PKT_TOOBIG 2
#define ICMPV6_TIME_EXCEED 3
#define ICMPV6_PARAMPROB 4

/* An ICMPv6 error and the IPv6 packet it quotes (as much of it as fits 1280 bytes). */
struct icmp6_error {
	struct tuple6 inner;	/* the quoted packet as quoted; inner.l4_off is its frame offset */
	__u32 icmp_off;
	__u32 inner_l3_off;
	__u32 inner_csum_off;	/* 0 when the quote ends before the quoted L4 checksum */
};

static __always_inline int icmp6_is_error(__u8 type)
{
	return type >= ICMPV6_DEST_UNREACH && type <= ICMPV6_PARAMPROB;
}

/* Parses an ICMPv6 error (outer from parse_tuple6, PARSE_OTHER) whose quote is a TCP/UDP packet
 * that is not a later fragment, walking the quote's extension headers like the outer ones. The
 * parameter problem's pointer needs no change: translation keeps every length. */
static __always_inline int icmp6_parse_error(struct __sk_buff *skb, const struct tuple6 *outer,
					     struct icmp6_error *e)
{
	struct ipv6hdr ip6;
	__u8 type;
	__u32 csum_at;
	__be16 ports[2];

	if (outer->proto != IPPROTO_ICMPV6_ || outer->frag != FRAG_NONE)
		return -1;
	e->icmp_off = outer->l4_off;
	if (bpf_skb_load_bytes(skb, e->icmp_off, &type, sizeof(type)) || !icmp6_is_error(type))
		return -1;
	e->inner_l3_off = e->icmp_off + ICMP_HLEN;
	if (bpf_skb_load_bytes(skb, e->inner_l3_off, &ip6, sizeof(ip6)) || ip6.version != 6)
		return -1;
	if (ip6_skip_ext(skb, e->inner_l3_off, ip6.nexthdr, &e->inner) || e->inner.frag == FRAG_LATER)
		return -1;
	if (e->inner.proto != IPPROTO_TCP && e->inner.proto != IPPROTO_UDP)
		return -1;
	if (bpf_skb_load_bytes(skb, e->inner.l4_off, ports, sizeof(ports)))
		return -1;
	e->inner.saddr = ip6.saddr;
	e->inner.daddr = ip6.daddr;
	e->inner.sport = ports[0];
	e->inner.dport = ports[1];
	e->inner.tcp_flags = 0;
	e->inner.pad = 0;
	e->inner.pad2 = 0;
	csum_at = e->inner.l4_off + (e->inner.proto == IPPROTO_TCP ? offsetof(struct tcphdr, check)
								     : offsetof(struct udphdr, check));
	e->inner_csum_off = csum_at + sizeof(__sum16) <= skb->len ? csum_at : 0;
	return 0;
}

/* Rewrites the quoted packet's source (dst == 0) or destination address and port, the quoted L4
 * checksum (pseudo-header and port; UDP 0 stays 0), and compensates each change of the message
 * in the ICMPv6 checksum, field only (bpf_l3_csum_replace; see icmp_rewrite_quote): the quote has
 * no IP header checksum in IPv6. */
static __always_inline int icmp6_rewrite_quote(struct __sk_buff *skb, const struct icmp6_error *e, int dst,
					       const struct in6_addr *new_addr, __be16 new_port)
{
	__u32 icmp_csum = e->icmp_off + ICMP_CSUM_OFF;
	__u32 addr_off = e->inner_l3_off + (dst ? offsetof(struct ipv6hdr, daddr) : offsetof(struct ipv6hdr, saddr));
	__u32 port_off = e->inner.l4_off + (dst ? offsetof(struct udphdr, dest) : offsetof(struct udphdr, source));
	const struct in6_addr *old_addr = dst ? &e->inner.daddr : &e->inner.saddr;
	__be16 old_port = dst ? e->inner.dport : e->inner.sport;
	__s64 diff = addr6_csum_diff(old_addr, new_addr);

	if (diff < 0 || bpf_skb_store_bytes(skb, addr_off, new_addr, sizeof(*new_addr), 0) ||
	    bpf_l3_csum_replace(skb, icmp_csum, 0, diff, 0))
		return -1;
	return icmp_quote_l4(skb, icmp_csum, e->inner_csum_off, e->inner.proto, 0, diff, 0, port_off, old_port,
			     new_port);
}

/* Rewrites the outer source (dst == 0) or destination: ICMPv6, unlike ICMP, has a pseudo-header. */
static __always_inline int icmp6_rewrite_outer(struct __sk_buff *skb, const struct icmp6_error *e, int dst,
					       const struct in6_addr *old_addr, const struct in6_addr *new_addr)
{
	__u32 off = L3_OFF + (dst ? offsetof(struct ipv6hdr, daddr) : offsetof(struct ipv6hdr, saddr));
	__s64 diff = addr6_csum_diff(old_addr, new_addr);

	if (diff < 0 || bpf_l4_csum_replace(skb, e->icmp_off + ICMP_CSUM_OFF, 0, diff, BPF_F_PSEUDO_HDR))
		return -1;
	return store_addr6(skb, off, new_addr);
}

/* icmp6_flow, icmp6_error_reverse (an error arriving for the pod about a packet it sent to a
 * ClusterIP: destination unreachable, packet too big, so that the pod lowers its path MTU towards
 * the ClusterIP, time exceeded, parameter problem) and icmp6_error_forward (an error the pod
 * sends about a reply): icmp.h's rules with ICMPv6's parsing and checksums */
#define IC_TUPLE struct tuple6
#define IC_ERROR struct icmp6_error
#define IC_CT_KEY struct ct6_key
#define IC_CT_VALUE struct ct6_value
#define IC_FN(name) icmp6_##name
#define IC_CT(name) ct6_##name
#define IC_ADDR_EQ(a, b) addr6_eq(&(a), &(b))
#define IC_REWRITE_OUTER(skb, e, dst, old, new) icmp6_rewrite_outer(skb, e, dst, &(old), &(new))
#define IC_REWRITE_QUOTE(skb, e, dst, addr, port) icmp6_rewrite_quote(skb, e, dst, &(addr), port)
#include "icmp_family.h"

#endif
