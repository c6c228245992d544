/* reverse.h: the reply direction of a flow as a whole: its packets, their later fragments, and ICMP errors quoting its packets. */
#ifndef ENILB_REVERSE_H
#define ENILB_REVERSE_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "packet.h"
#include "conntrack.h"
#include "frag.h"
#include "icmp.h"
#include "family6.h"

/* Everything that arrives for the pod from a flow it opened through a ClusterIP gets the
 * ClusterIP back: replies (conntrack), the later fragments of a reply (their first fragment's
 * ports, fragment map), and ICMP errors about what the pod sent (icmp.h). wanted_flags narrows
 * it to flows with those conntrack flags (CT_F_SELF on loopback). A later fragment whose first
 * was not seen passes as it is: it may not be enilb's at all, and the pod's reassembly drops it
 * if it was. Returns the tc verdict; TC_ACT_UNSPEC for what is not enilb's. */
static __always_inline int reverse_path(struct __sk_buff *skb, __u8 wanted_flags)
{
	struct tuple4 t;
	int rc = parse_flow4(skb, &t);
	int verdict;

	if (rc == PARSE_NOT_IPV4)
		return to_family6(skb, wanted_flags & CT_F_SELF ? FAMILY6_LO_EGRESS : FAMILY6_INGRESS);
	if (rc == PARSE_OTHER) {
		verdict = icmp_error_reverse(skb, &t, wanted_flags);
		return verdict == TC_ACT_OK || verdict == TC_ACT_SHOT ? verdict : TC_ACT_UNSPEC;
	}
	if (rc != PARSE_FLOW)
		return TC_ACT_UNSPEC;
	verdict = reverse_nat(skb, &t, wanted_flags);
	if (verdict == TC_ACT_OK)
		frag_remember(skb, &t);
	return verdict;
}

#endif
