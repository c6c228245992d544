/* reject6.h: answering an IPv6 packet that no backend can take from the address it was sent to: ICMPv6 port unreachable, or a TCP reset for a connection attempt. */
#ifndef ENILB_REJECT6_H
#define ENILB_REJECT6_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "maps.h"
#include "packet6.h"
#include "icmp6.h"
#include "reject.h"

/* RFC 4443 2.4(c): an error quotes as much of the offending packet as fits the minimum MTU. */
#define IPV6_MIN_MTU 1280
#define REJECT6_HDRS (IPV6_HLEN + ICMP_HLEN)
#define REJECT6_QUOTE_MAX (IPV6_MIN_MTU - REJECT6_HDRS)
#define CSUM_CHUNK 256

/* A chunk of packet for csum_range: too big for the 512-byte stack next to the datapath's own
 * variables. Private to one load, never pinned. */
struct csum_chunk {
	__u8 bytes[CSUM_CHUNK];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct csum_chunk);
} enilb_csum_scratch SEC(".maps") __weak;

/* The one's complement sum (unfolded) of len bytes at off, seeded with sum: bpf_csum_diff takes at
 * most 512 bytes of memory, so the range is copied in chunks (the last one zero padded, which adds
 * nothing; chunks are even, so every byte keeps its place in its 16-bit word). */
static __always_inline int csum_range(struct __sk_buff *skb, __u32 off, __u32 len, __u32 *sum)
{
	__u32 zero = 0;
	struct csum_chunk *chunk = bpf_map_lookup_elem(&enilb_csum_scratch, &zero);
	__u8 *buf;
	__u32 done = 0;
	int i;

	if (!chunk)
		return -1;
	buf = chunk->bytes;

	for (i = 0; i < (IPV6_MIN_MTU + CSUM_CHUNK - 1) / CSUM_CHUNK; i++) {
		__u32 n = len - done;
		__s64 s;

		if (done >= len)
			break;
		if (n >= CSUM_CHUNK) {
			if (bpf_skb_load_bytes(skb, off + done, buf, CSUM_CHUNK))
				return -1;
		} else {
			__builtin_memset(buf, 0, CSUM_CHUNK);
			/* n is 1..255 here; this states it in the register the helper gets, where the
			 * verifier checks it (the compiler passes a copy the bounds checks never saw) */
			asm volatile("%0 -= 1; %0 &= 0xff; %0 += 1" : "+r"(n));
			if (bpf_skb_load_bytes(skb, off + done, buf, n))
				return -1;
		}
		s = bpf_csum_diff(0, 0, (__be32 *)buf, CSUM_CHUNK, *sum);
		if (s < 0)
			return -1;
		*sum = (__u32)s;
		done += CSUM_CHUNK;
	}
	return 0;
}

struct reject6_hdrs {
	struct ethhdr eth;
	struct ipv6hdr ip6;
	struct icmp_unreach icmp;
} __attribute__((packed));

struct pseudo6 {
	struct in6_addr saddr;
	struct in6_addr daddr;
	__be32 len;
	__be32 nexthdr;
};

/* Turns the IPv6 packet (parsed into t) into an ICMPv6 port unreachable from its destination,
 * quoting the packet from its IPv6 header on, up to 1280 bytes in all, and hands it to the pod's
 * own ingress (as reject_port_unreachable). The headers are put in front of the packet
 * (bpf_skb_change_head), so the quote never passes through the stack. Counts it under reason. */
static __always_inline int reject6_port_unreachable(struct __sk_buff *skb, const struct tuple6 *t, __u32 reason)
{
	struct reject6_hdrs h = {};
	struct pseudo6 ph = {};
	struct ethhdr eth;
	__u32 quote_len = skb->len - ETH_HLEN;
	__u32 len;
	__u32 sum = 0;
	__s64 s;

	if (skb->len <= ETH_HLEN + IPV6_HLEN || bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)))
		goto fail;
	if (quote_len > REJECT6_QUOTE_MAX)
		quote_len = REJECT6_QUOTE_MAX;
	len = ICMP_HLEN + quote_len;

	__builtin_memcpy(h.eth.h_dest, eth.h_source, ETH_ALEN);
	__builtin_memcpy(h.eth.h_source, eth.h_dest, ETH_ALEN);
	h.eth.h_proto = bpf_htons(ETH_P_IPV6);
	h.ip6.version = 6;
	h.ip6.payload_len = bpf_htons(len);
	h.ip6.nexthdr = IPPROTO_ICMPV6_;
	h.ip6.hop_limit = 64;
	h.ip6.saddr = t->daddr;
	h.ip6.daddr = t->saddr;
	h.icmp.type = ICMPV6_DEST_UNREACH;
	h.icmp.code = ICMPV6_PORT_UNREACH;

	/* [eth][ipv6 ...] -> [48 new][eth][ipv6 ...]: the new Ethernet, IPv6 and ICMPv6 headers
	 * take the first 62 bytes, the old Ethernet header included */
	if (bpf_skb_change_head(skb, REJECT6_HDRS, 0))
		goto fail;
	if (bpf_skb_change_tail(skb, ETH_HLEN + REJECT6_HDRS + quote_len, 0))
		goto fail;
	if (bpf_skb_store_bytes(skb, 0, &h, sizeof(h), 0))
		goto fail;

	ph.saddr = h.ip6.saddr;
	ph.daddr = h.ip6.daddr;
	ph.len = bpf_htonl(len);
	ph.nexthdr = bpf_htonl(IPPROTO_ICMPV6_);
	s = bpf_csum_diff(0, 0, (__be32 *)&ph, sizeof(ph), 0);
	if (s < 0)
		goto fail;
	sum = (__u32)s;
	if (csum_range(skb, ETH_HLEN + IPV6_HLEN, len, &sum))
		goto fail;
	h.icmp.checksum = csum_fold32(sum);
	if (bpf_skb_store_bytes(skb, ETH_HLEN + IPV6_HLEN + offsetof(struct icmp_unreach, checksum),
				&h.icmp.checksum, sizeof(h.icmp.checksum), 0))
		goto fail;
	return reject_to_pod(skb, reason);
fail:
	return reject_failed();
}

struct reset6_l2l3 {
	struct ethhdr eth;
	struct ipv6hdr ip6;
} __attribute__((packed));

/* Answers a TCP SYN (parsed into t, unfragmented) with the reset a host without a listener sends
 * (RFC 9293 3.10.7.1: RST|ACK, seq 0, ack = the SYN's seq + 1 + its data), from the address and
 * port it was sent to, handed to the pod's own ingress. Counts it under reason.
 *
 * Why not ICMPv6 as for IPv4: the answer reaches the pod's stack in the softirq that runs when
 * the SYN's transmission re-enables bottom halves, i.e. inside connect(), while connect() owns
 * the socket. tcp_v4_err and tcp_v6_err then both record only a soft error; IPv4 still queues
 * it on the socket's error queue (ip_icmp_error, unconditionally for SYN_SENT on this kernel),
 * which makes poll() report POLLERR at once, but ipv6_icmp_error queues only with
 * IPV6_RECVERR, so an IPv6 client learns of it only from the error about the retransmission
 * 1 s later. A segment that finds the socket owned goes to its backlog instead, which
 * release_sock() processes before connect() returns or sleeps: the reset refuses at once. */
static __always_inline int reject6_tcp_reset(struct __sk_buff *skb, const struct tuple6 *t, __u32 reason)
{
	struct reset6_l2l3 h = {};
	struct tcphdr rst = {};
	struct pseudo6 ph = {};
	__u8 mac[ETH_ALEN];
	__be16 payload_len;
	__be32 seq;
	__u8 doff;
	__u32 data_len;
	__s64 s;

	if (bpf_skb_load_bytes(skb, 0, &h.eth, sizeof(h.eth)) ||
	    bpf_skb_load_bytes(skb, ETH_HLEN + offsetof(struct ipv6hdr, payload_len), &payload_len, sizeof(payload_len)) ||
	    bpf_skb_load_bytes(skb, t->l4_off + offsetof(struct tcphdr, seq), &seq, sizeof(seq)) ||
	    bpf_skb_load_bytes(skb, t->l4_off + offsetof(struct tcphdr, ack_seq) + 4, &doff, sizeof(doff)))
		goto fail;
	/* the data a SYN may carry (TCP Fast Open) is acknowledged too */
	data_len = ETH_HLEN + IPV6_HLEN + bpf_ntohs(payload_len) - t->l4_off - (doff >> 4) * 4;
	if (data_len > 0xffff)
		goto fail;

	__builtin_memcpy(mac, h.eth.h_source, ETH_ALEN);
	__builtin_memcpy(h.eth.h_source, h.eth.h_dest, ETH_ALEN);
	__builtin_memcpy(h.eth.h_dest, mac, ETH_ALEN);
	h.ip6.version = 6;
	h.ip6.payload_len = bpf_htons(sizeof(rst));
	h.ip6.nexthdr = IPPROTO_TCP;
	h.ip6.hop_limit = 64;
	h.ip6.saddr = t->daddr;
	h.ip6.daddr = t->saddr;
	rst.source = t->dport;
	rst.dest = t->sport;
	rst.ack_seq = bpf_htonl(bpf_ntohl(seq) + 1 + data_len);
	rst.doff = sizeof(rst) / 4;
	rst.rst = 1;
	rst.ack = 1;

	ph.saddr = t->daddr;
	ph.daddr = t->saddr;
	ph.len = bpf_htonl(sizeof(rst));
	ph.nexthdr = bpf_htonl(IPPROTO_TCP);
	s = bpf_csum_diff(0, 0, (__be32 *)&ph, sizeof(ph), 0);
	if (s < 0)
		goto fail;
	s = bpf_csum_diff(0, 0, (__be32 *)&rst, sizeof(rst), (__u32)s);
	if (s < 0)
		goto fail;
	rst.check = csum_fold32((__u32)s);

	if (bpf_skb_change_tail(skb, sizeof(h) + sizeof(rst), 0))
		goto fail;
	if (bpf_skb_store_bytes(skb, 0, &h, sizeof(h), 0) ||
	    bpf_skb_store_bytes(skb, sizeof(h), &rst, sizeof(rst), 0))
		goto fail;
	return reject_to_pod(skb, reason);
fail:
	return reject_failed();
}

/* Refuses what no backend can take: a connection attempt with a reset, anything else with
 * ICMPv6 port unreachable. */
static __always_inline int reject6(struct __sk_buff *skb, const struct tuple6 *t, __u32 reason)
{
	if (tcp_syn_only(t->proto, t->tcp_flags) && t->frag == FRAG_NONE)
		return reject6_tcp_reset(skb, t, reason);
	return reject6_port_unreachable(skb, t, reason);
}

#endif
