/* guard.h: what the pod sends that enilb cannot translate as a flow: ICMP errors about replies, and nothing else to a ClusterIP leaves. */
#ifndef ENILB_GUARD_H
#define ENILB_GUARD_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "maps.h"
#include "packet.h"
#include "conntrack.h"
#include "icmp.h"
#include "reject.h"
#include "fib.h"

/* Called on NIC egress for a packet that is not a TCP/UDP packet to a frontend (rc from
 * parse_flow4; PARSE_FLOW when the frontend lookup missed). An ICMP error about a reply the pod
 * received goes to the backend translated. Anything else to a ClusterIP address would reach the
 * fabric with a Service IP as destination, where nothing answers it, so it stops here, counted:
 * another port of a ClusterIP is refused with port unreachable (as kube-proxy's nftables mode
 * rejects it), the rest is dropped. Packets to other addresses are not enilb's (TC_ACT_UNSPEC). */
static __always_inline int egress_untranslated(struct __sk_buff *skb, const struct tuple4 *t, int rc)
{
	__u32 ct_flags = 0;
	int icmp = ICMP_NOT_ERROR;

	if (rc == PARSE_NOT_IPV4)
		return TC_ACT_UNSPEC;
	if (rc == PARSE_OTHER) {
		icmp = icmp_error_forward(skb, t, &ct_flags);
		if (icmp == 0)
			return (ct_flags & CT_F_SELF) ? to_loopback(skb) : to_next_hop(skb);
		if (icmp > 0)
			return icmp;
	}
	/* outside the configured Service CIDR nothing is a ClusterIP: most of the pod's traffic
	 * skips the address lookup */
	if (!ct_frontend_range(t->daddr) || !is_cluster_ip(t->daddr))
		return TC_ACT_UNSPEC;
	if (rc == PARSE_LATER_FRAGMENT) {
		count_drop(DROP_FRAG_NO_FIRST);
		return TC_ACT_SHOT;
	}
	if (rc == PARSE_FLOW && t->frag != FRAG_LATER)
		return reject_port_unreachable(skb, t, DROP_UNTRANSLATABLE);
	count_drop(icmp == ICMP_NO_FLOW ? DROP_ICMP_UNTRANSLATABLE : DROP_UNTRANSLATABLE);
	return TC_ACT_SHOT;
}

#endif
