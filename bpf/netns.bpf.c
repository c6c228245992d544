/* netns.bpf.c: pod_netns_cookie(), linked into every program (no attach point of its own). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "netns.h"

/* Why an object of its own: bpftool 7.1 / libbpf 1.1 (Debian 12) cannot link a kfunc extern
 * that several objects declare, so one global function holds the only reference. */

/* Just the fields read below; CO-RE relocates them against the running kernel's BTF. */
struct net___enilb {
	__u64 net_cookie;
} __attribute__((preserve_access_index));

struct net_device___enilb {
	struct {
		struct net___enilb *net;
	} nd_net;
} __attribute__((preserve_access_index));

struct sk_buff___enilb {
	struct net_device___enilb *dev;
} __attribute__((preserve_access_index));

extern void *bpf_cast_to_kern_ctx(void *ctx) __ksym;

/* Not bpf_get_netns_cookie(skb): at tc it answers the namespace of skb->sk, which is init_net
 * for a packet without socket (every reply arriving on ingress) and the sender's namespace for
 * one that crossed a veth from a local socket. The device's namespace is the pod's. */
__u64 pod_netns_cookie(struct __sk_buff *skb)
{
	struct sk_buff___enilb *kskb = bpf_cast_to_kern_ctx(skb);
	struct net_device___enilb *dev = kskb->dev;
	struct net___enilb *net;

	if (!dev)
		return 0;
	net = dev->nd_net.net;
	return net ? net->net_cookie : 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
