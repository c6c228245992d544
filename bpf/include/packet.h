/* packet.h: parsing an IPv4 packet at tc (options and fragments included) into the tuple the datapath works on. */
#ifndef ENILB_PACKET_H
#define ENILB_PACKET_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define IP_MF 0x2000
#define IP_OFFSET 0x1fff
#define L3_OFF ETH_HLEN

/* What parse_tuple4 found. Only PARSE_FLOW is 0: callers that translate whole flows test for it. */
#define PARSE_FLOW 0		/* TCP or UDP with its ports (unfragmented, or the first fragment) */
#define PARSE_LATER_FRAGMENT 1	/* a TCP/UDP fragment after the first: addresses, protocol and id, no ports */
#define PARSE_OTHER 2		/* IPv4, but no TCP/UDP flow: ICMP, other protocols, broken or short headers */
#define PARSE_NOT_IPV4 3	/* not IPv4 at all (ARP, IPv6), or shorter than an IPv4 header */

#define FRAG_NONE 0		/* a whole datagram */
#define FRAG_FIRST 1		/* offset 0, more fragments follow: carries the L4 header */
#define FRAG_LATER 2		/* offset > 0: payload only */

struct tuple4 {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 tcp_flags;		/* byte 13 of the TCP header, 0 for UDP */
	__u8 frag;		/* FRAG_* */
	__u8 pad;
	__u16 l4_off;		/* frame offset of the L4 header: after the IP header and its options */
	__be16 ip_id;		/* IP identification, which ties a datagram's fragments together */
};

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_ACK 0x10

/* Fills t from an IPv4 packet. The IP header is read with its real length (ihl), so options
 * move the L4 header and every offset derived from t->l4_off with it. A fragment after the
 * first has no ports: the caller finds them in the fragment map (frag.h). */
static __always_inline int parse_tuple4(struct __sk_buff *skb, struct tuple4 *t)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph;
	__u32 ihl_bytes;
	void *l4;

	if ((void *)(eth + 1) > data_end)
		return PARSE_NOT_IPV4;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return PARSE_NOT_IPV4;
	iph = (void *)(eth + 1);
	if ((void *)(iph + 1) > data_end)
		return PARSE_NOT_IPV4;

	t->saddr = iph->saddr;
	t->daddr = iph->daddr;
	t->proto = iph->protocol;
	t->ip_id = iph->id;
	t->sport = 0;
	t->dport = 0;
	t->tcp_flags = 0;
	t->pad = 0;
	if (!(iph->frag_off & bpf_htons(IP_MF | IP_OFFSET)))
		t->frag = FRAG_NONE;
	else if (iph->frag_off & bpf_htons(IP_OFFSET))
		t->frag = FRAG_LATER;
	else
		t->frag = FRAG_FIRST;
	ihl_bytes = iph->ihl * 4;
	t->l4_off = ETH_HLEN + ihl_bytes;
	if (iph->version != 4 || ihl_bytes < sizeof(struct iphdr))
		return PARSE_OTHER;
	if (iph->protocol != IPPROTO_TCP && iph->protocol != IPPROTO_UDP)
		return PARSE_OTHER;
	if (t->frag == FRAG_LATER)
		return PARSE_LATER_FRAGMENT;

	l4 = (void *)iph + ihl_bytes;
	if (iph->protocol == IPPROTO_TCP) {
		struct tcphdr *th = l4;

		if ((void *)(th + 1) > data_end)
			return PARSE_OTHER;
		t->sport = th->source;
		t->dport = th->dest;
		t->tcp_flags = ((__u8 *)th)[13];
	} else {
		struct udphdr *uh = l4;

		if ((void *)(uh + 1) > data_end)
			return PARSE_OTHER;
		t->sport = uh->source;
		t->dport = uh->dest;
	}
	return PARSE_FLOW;
}

/* A TCP SYN without ACK: a new connection (any family). */
static __always_inline int tcp_syn_only(__u8 proto, __u8 tcp_flags)
{
	return proto == IPPROTO_TCP && (tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
}

static __always_inline int is_tcp_syn_only(const struct tuple4 *t)
{
	return tcp_syn_only(t->proto, t->tcp_flags);
}

#endif
