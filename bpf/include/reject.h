/* reject.h: answering a packet that no backend can take with ICMP port unreachable from the address it was sent to. */
#ifndef ENILB_REJECT_H
#define ENILB_REJECT_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "maps.h"
#include "packet.h"
#include "icmp.h"

/* RFC 792: the error quotes the offending IP header, options included, and the first 8 bytes of
 * its payload. */
#define REJECT_QUOTE_MAX (60 + 8)

struct icmp_unreach {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be32 unused;
};

struct reject_l3 {
	struct iphdr ip;
	struct icmp_unreach icmp;
	__u8 quote[REJECT_QUOTE_MAX];
};

static __always_inline __u16 csum_fold32(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* The answer is in place: counted under reason, handed to the pod's own ingress. */
static __always_inline int reject_to_pod(struct __sk_buff *skb, __u32 reason)
{
	count_drop(reason);
	return bpf_redirect(skb->ifindex, BPF_F_INGRESS);
}

/* No answer could be built: the packet is dropped and counted as such. */
static __always_inline int reject_failed(void)
{
	count_drop(DROP_REJECT_FAILED);
	return TC_ACT_SHOT;
}

/* Turns the packet (parsed into t) into an ICMP port unreachable from its destination and hands
 * it to the pod's own ingress, so the client fails at once (ECONNREFUSED) instead of waiting for
 * timeouts. Counts it under reason. */
static __always_inline int reject_port_unreachable(struct __sk_buff *skb, const struct tuple4 *t, __u32 reason)
{
	struct ethhdr eth;
	struct reject_l3 r = {};
	__u8 mac[ETH_ALEN];
	__u32 quote_len = t->l4_off - L3_OFF + 8;
	__u32 len;
	__s64 sum;

	if (quote_len < sizeof(struct iphdr) + 8 || quote_len > REJECT_QUOTE_MAX)
		goto fail;
	len = sizeof(r.ip) + sizeof(r.icmp) + quote_len;
	if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)))
		goto fail;
	if (bpf_skb_load_bytes(skb, L3_OFF, r.quote, quote_len))
		goto fail;
	__builtin_memcpy(mac, eth.h_source, ETH_ALEN);
	__builtin_memcpy(eth.h_source, eth.h_dest, ETH_ALEN);
	__builtin_memcpy(eth.h_dest, mac, ETH_ALEN);

	r.ip.version = 4;
	r.ip.ihl = 5;
	r.ip.tot_len = bpf_htons(len);
	r.ip.ttl = 64;
	r.ip.protocol = IPPROTO_ICMP;
	r.ip.saddr = t->daddr;
	r.ip.daddr = t->saddr;
	sum = bpf_csum_diff(0, 0, (__be32 *)&r.ip, sizeof(r.ip), 0);
	if (sum < 0)
		goto fail;
	r.ip.check = csum_fold32((__u32)sum);

	r.icmp.type = ICMP_DEST_UNREACH;
	r.icmp.code = ICMP_PORT_UNREACH;
	sum = bpf_csum_diff(0, 0, (__be32 *)&r.icmp, sizeof(r.icmp) + quote_len, 0);
	if (sum < 0)
		goto fail;
	r.icmp.checksum = csum_fold32((__u32)sum);

	if (bpf_skb_change_tail(skb, ETH_HLEN + len, 0))
		goto fail;
	if (bpf_skb_store_bytes(skb, 0, &eth, sizeof(eth), 0))
		goto fail;
	if (bpf_skb_store_bytes(skb, L3_OFF, &r, len, 0))
		goto fail;
	return reject_to_pod(skb, reason);
fail:
	return reject_failed();
}

#endif
