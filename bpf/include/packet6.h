/* packet6.h: parsing an IPv6 packet at tc (extension headers and fragments included) into the tuple the IPv6 datapath works on. */
#ifndef ENILB_PACKET6_H
#define ENILB_PACKET6_H

#include <stddef.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "packet.h"

#define IPV6_HLEN 40
#define IP6_MF 0x0001		/* fragment header: more fragments */
#define IP6_OFFSET 0xfff8	/* fragment header: offset in 8-byte units, shifted left 3 */
#define NEXTHDR_HOP 0
#define NEXTHDR_ROUTING 43
#define NEXTHDR_FRAGMENT 44
#define NEXTHDR_AUTH 51
#define NEXTHDR_NONE 59
#define NEXTHDR_DEST 60
#define IPPROTO_ICMPV6_ 58	/* linux/in6.h's IPPROTO_ICMPV6 needs libc guards */

/* How many extension headers the parser walks before it gives up (PARSE_OTHER). Real traffic
 * carries zero to two (hop-by-hop, a fragment header); a longer chain to a ClusterIP is counted
 * as untranslatable rather than walked without end (the verifier needs a bound anyway). */
#define IP6_EXT_MAX 6

/* An IPv6 packet as the datapath sees it; the PARSE_* results are parse_tuple4's. */
struct tuple6 {
	struct in6_addr saddr;
	struct in6_addr daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;		/* the upper-layer protocol, after the extension headers */
	__u8 tcp_flags;
	__u8 frag;		/* FRAG_* */
	__u8 pad;
	__u16 l4_off;		/* frame offset of the upper-layer header */
	__u16 pad2;
	__be32 frag_id;		/* the fragment header's identification (0 when unfragmented) */
};

struct ip6_ext {
	__u8 nexthdr;
	__u8 hdrlen;
};

struct ip6_frag {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;
	__be32 identification;
};

static __always_inline int addr6_eq(const struct in6_addr *a, const struct in6_addr *b)
{
	const __u64 *x = (const __u64 *)a;
	const __u64 *y = (const __u64 *)b;

	return x[0] == y[0] && x[1] == y[1];
}

/* Walks the extension headers of the IPv6 header at l3_off (as sent or as quoted in an ICMPv6
 * error): sets t->proto, t->l4_off, t->frag and t->frag_id. Returns 0, or -1 when the chain is
 * longer than IP6_EXT_MAX, truncated, or ends in "no next header". */
static __always_inline int ip6_skip_ext(struct __sk_buff *skb, __u32 l3_off, __u8 nexthdr, struct tuple6 *t)
{
	__u32 off = l3_off + IPV6_HLEN;
	int i;

	t->frag = FRAG_NONE;
	t->frag_id = 0;
#pragma unroll
	for (i = 0; i < IP6_EXT_MAX; i++) {
		struct ip6_ext ext;
		struct ip6_frag fh;

		switch (nexthdr) {
		case NEXTHDR_HOP:
		case NEXTHDR_ROUTING:
		case NEXTHDR_DEST:
			if (bpf_skb_load_bytes(skb, off, &ext, sizeof(ext)))
				return -1;
			nexthdr = ext.nexthdr;
			off += (ext.hdrlen + 1) * 8;
			break;
		case NEXTHDR_AUTH:
			if (bpf_skb_load_bytes(skb, off, &ext, sizeof(ext)))
				return -1;
			nexthdr = ext.nexthdr;
			off += (ext.hdrlen + 2) * 4;
			break;
		case NEXTHDR_FRAGMENT:
			if (bpf_skb_load_bytes(skb, off, &fh, sizeof(fh)))
				return -1;
			nexthdr = fh.nexthdr;
			t->frag_id = fh.identification;
			if (fh.frag_off & bpf_htons(IP6_OFFSET))
				t->frag = FRAG_LATER;
			else if (fh.frag_off & bpf_htons(IP6_MF))
				t->frag = FRAG_FIRST;
			off += sizeof(fh);
			break;
		case NEXTHDR_NONE:
			return -1;
		default:
			t->proto = nexthdr;
			t->l4_off = off;
			return 0;
		}
	}
	return -1;
}

/* Fills t from an IPv6 packet: addresses, the upper-layer protocol behind the extension headers,
 * ports and TCP flags. Results as parse_tuple4 (PARSE_NOT_IPV4: not IPv6 at all). */
static __always_inline int parse_tuple6(struct __sk_buff *skb, struct tuple6 *t)
{
	struct ipv6hdr ip6;
	__be16 proto;
	__u8 th[sizeof(struct tcphdr)];

	if (bpf_skb_load_bytes(skb, offsetof(struct ethhdr, h_proto), &proto, sizeof(proto)) ||
	    proto != bpf_htons(ETH_P_IPV6))
		return PARSE_NOT_IPV4;
	if (bpf_skb_load_bytes(skb, L3_OFF, &ip6, sizeof(ip6)) || ip6.version != 6)
		return PARSE_NOT_IPV4;
	t->saddr = ip6.saddr;
	t->daddr = ip6.daddr;
	t->sport = 0;
	t->dport = 0;
	t->tcp_flags = 0;
	t->pad = 0;
	t->pad2 = 0;
	t->proto = NEXTHDR_NONE;
	t->l4_off = 0;
	if (ip6_skip_ext(skb, L3_OFF, ip6.nexthdr, t))
		return PARSE_OTHER;
	if (t->proto != IPPROTO_TCP && t->proto != IPPROTO_UDP)
		return PARSE_OTHER;
	if (t->frag == FRAG_LATER)
		return PARSE_LATER_FRAGMENT;
	if (t->proto == IPPROTO_TCP) {
		if (bpf_skb_load_bytes(skb, t->l4_off, th, sizeof(th)))
			return PARSE_OTHER;
		t->tcp_flags = th[13];
	} else if (bpf_skb_load_bytes(skb, t->l4_off, th, sizeof(struct udphdr))) {
		return PARSE_OTHER;
	}
	__builtin_memcpy(&t->sport, th, sizeof(t->sport));
	__builtin_memcpy(&t->dport, th + 2, sizeof(t->dport));
	return PARSE_FLOW;
}

#endif
