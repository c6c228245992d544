/* family6.h: how the IPv4 programs hand an IPv6 packet to the IPv6 programs: a tail call. */
#ifndef ENILB_FAMILY6_H
#define ENILB_FAMILY6_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

/* The IPv4 programs parse IPv4 first and hand everything else to the IPv6 program of their
 * attach point (parse_tuple4 answered PARSE_NOT_IPV4), so IPv4 pays nothing for IPv6, not even
 * an ethertype test of its own. A tail call rather than a function call: the IPv6 program gets a
 * stack of its own (IPv4's frame and IPv6's together exceed the 512 bytes a call chain may use)
 * and is verified on its own, so the IPv4 programs keep their size and verification cost.
 * io.enilb.bpf.Datapath fills the array at load; it is private to one load, never pinned. */
#define FAMILY6_EGRESS 0	/* enilb_egress6: NIC egress */
#define FAMILY6_INGRESS 1	/* enilb_ingress6: NIC ingress */
#define FAMILY6_LO_EGRESS 2	/* enilb_lo_egress6: loopback egress */
#define FAMILY6_MAX 3

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, FAMILY6_MAX);
	__type(key, __u32);
	__type(value, __u32);
} enilb_family6 SEC(".maps") __weak;

/* Continues with the IPv6 program at index; returns only when there is none (the array not
 * filled: nothing of IPv6 is translated then, and the packet goes on as it is). */
static __always_inline int to_family6(struct __sk_buff *skb, __u32 index)
{
#ifndef ENILB_NO_FAMILY6	/* defined only for EgressBench's baseline: IPv4 without the dispatch */
	bpf_tail_call(skb, &enilb_family6, index);
#endif
	return TC_ACT_UNSPEC;
}

#endif
