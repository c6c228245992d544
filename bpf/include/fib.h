/* fib.h: sending a translated packet to the backend's next hop, as the pod's own routing would. */
#ifndef ENILB_FIB_H
#define ENILB_FIB_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include "maps.h"

#define LOOPBACK_IFINDEX 1

/* The pod routed the packet towards the ClusterIP, which usually means via its default
 * gateway. After DNAT the right next hop is the backend's: the backend itself when it is on
 * the pod's link, the gateway otherwise. bpf_redirect_neigh without a next hop looks the new
 * destination up in the pod's routes (restricted to this device) and resolves the neighbour,
 * so the packet leaves exactly as one addressed to the backend would. (bpf_fib_lookup cannot be
 * used: it refuses with FWD_DISABLED in a pod, where forwarding is off.) Under
 * BPF_PROG_TEST_RUN the packet sits on loopback, where there is nothing to resolve. */
static __always_inline int to_next_hop(struct __sk_buff *skb)
{
	if (skb->ifindex == LOOPBACK_IFINDEX)
		return TC_ACT_OK;
	return bpf_redirect_neigh(skb->ifindex, NULL, 0, 0);
}

/* A packet of a self-access flow: out through the NIC it would reach the fabric and never come
 * back, so it goes to the pod's loopback instead. Loopback's address is all zeroes; a packet
 * whose destination MAC differs would be taken for another host's and dropped. Every network
 * namespace numbers its loopback 1. */
static __always_inline int to_loopback(struct __sk_buff *skb)
{
	__u8 zero_mac[ETH_ALEN] = {};

	if (bpf_skb_store_bytes(skb, 0, zero_mac, ETH_ALEN, 0)) {
		count_drop(DROP_REWRITE_FAILED);
		return TC_ACT_SHOT;
	}
	return bpf_redirect(LOOPBACK_IFINDEX, BPF_F_INGRESS);
}

#endif
