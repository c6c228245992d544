/* reverse6.bpf.c: the IPv6 reply direction (NIC ingress, loopback egress; tail-called by the IPv4 programs): replies, their later fragments and ICMPv6 errors get the ClusterIP back. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "maps.h"
#include "packet6.h"
#include "conntrack6.h"
#include "frag6.h"
#include "icmp6.h"

/* As reverse_path (reverse.h), for IPv6; wanted_flags CT_F_SELF on loopback. */
static __always_inline int reverse_path6(struct __sk_buff *skb, __u32 wanted_flags)
{
	struct tuple6 t;
	int rc = parse_flow6(skb, &t);
	int verdict;

	if (rc == PARSE_OTHER) {
		verdict = icmp6_error_reverse(skb, &t, wanted_flags);
		return verdict == TC_ACT_OK || verdict == TC_ACT_SHOT ? verdict : TC_ACT_UNSPEC;
	}
	if (rc != PARSE_FLOW)
		return TC_ACT_UNSPEC;
	verdict = reverse_nat6(skb, &t, wanted_flags);
	if (verdict == TC_ACT_OK)
		frag6_remember(skb, &t);
	return verdict;
}

/* Tail-called by enilb_ingress for every packet that is not IPv4 (family6.h). */
SEC("tc")
int enilb_ingress6(struct __sk_buff *skb)
{
	return reverse_path6(skb, 0);
}

/* Tail-called by enilb_lo_egress: self-access replies and errors about self-access packets. */
SEC("tc")
int enilb_lo_egress6(struct __sk_buff *skb)
{
	return reverse_path6(skb, CT_F_SELF);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
