/* lo_egress.bpf.c: tc egress on the pod's loopback: the reply of a self-access flow gets the ClusterIP back. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "maps.h"
#include "conntrack.h"

/* Attached at tc egress of lo; sees the pod's local traffic, of which only self-access
 * replies (conntrack entries marked CT_F_SELF) are rewritten. */
SEC("tc")
int enilb_lo_egress(struct __sk_buff *skb)
{
	return reverse_nat(skb, CT_F_SELF);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
