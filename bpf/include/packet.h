/* packet.h: parsing an IPv4 TCP/UDP packet at tc into the tuple the datapath works on. */
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
#define L4_OFF (ETH_HLEN + sizeof(struct iphdr))

struct tuple4 {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 tcp_flags;		/* byte 13 of the TCP header, 0 for UDP */
};

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_ACK 0x10

/* Fills t for an IPv4 TCP or UDP packet without IP options and not fragmented; returns 0.
 * Anything else (ARP, IPv6, ICMP, options, fragments, short packets) returns -1 and passes
 * untouched: a fragment after the first has no ports to translate, and options would move
 * the L4 header away from the fixed offset the rewrites use. */
static __always_inline int parse_tuple4(struct __sk_buff *skb, struct tuple4 *t)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph;

	if ((void *)(eth + 1) > data_end)
		return -1;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return -1;
	iph = (void *)(eth + 1);
	if ((void *)(iph + 1) > data_end)
		return -1;
	if (iph->version != 4 || iph->ihl != 5)
		return -1;
	if (iph->frag_off & bpf_htons(IP_MF | IP_OFFSET))
		return -1;
	if (iph->protocol != IPPROTO_TCP && iph->protocol != IPPROTO_UDP)
		return -1;

	t->saddr = iph->saddr;
	t->daddr = iph->daddr;
	t->proto = iph->protocol;
	t->tcp_flags = 0;
	if (iph->protocol == IPPROTO_TCP) {
		struct tcphdr *th = (void *)(iph + 1);

		if ((void *)(th + 1) > data_end)
			return -1;
		t->sport = th->source;
		t->dport = th->dest;
		t->tcp_flags = ((__u8 *)th)[13];
	} else {
		struct udphdr *uh = (void *)(iph + 1);

		if ((void *)(uh + 1) > data_end)
			return -1;
		t->sport = uh->source;
		t->dport = uh->dest;
	}
	return 0;
}

static __always_inline int is_tcp_syn_only(const struct tuple4 *t)
{
	return t->proto == IPPROTO_TCP && (t->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN;
}

#endif
