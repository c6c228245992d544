/* nic_ingress.bpf.c: tc ingress on the pod's own NIC: replies from a backend get the ClusterIP back (reverse DNAT). */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "maps.h"
#include "conntrack.h"

/* Attached at tc ingress of the pod's NIC; sees what the fabric delivers to the pod. */
SEC("tc")
int enilb_ingress(struct __sk_buff *skb)
{
	return reverse_nat(skb, 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
