/* netns.h: which pod a packet belongs to: the network namespace of the device it crosses. */
#ifndef ENILB_NETNS_H
#define ENILB_NETNS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

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

/* Only one object may reference this kfunc: bpftool 7.1 / libbpf 1.1 (Debian 12) cannot link
 * a kfunc extern that several objects declare. nic_egress.bpf.c does (inline, on the hot path)
 * and exports pod_netns_cookie() to the other programs. */
extern void *bpf_cast_to_kern_ctx(void *ctx) __ksym;

/* The cookie of the namespace of the device the packet crosses: the pod's, for every packet on
 * its NIC or its loopback; equal to getsockopt(SO_NETNS_COOKIE) of a socket opened in the pod
 * (io.enilb.bpf.Netns). Not bpf_get_netns_cookie(skb): at tc that answers the namespace of
 * skb->sk, which is init_net for a packet without socket (every reply arriving on ingress) and
 * the sender's namespace for one that crossed a veth from a local socket. */
static __always_inline __u64 netns_cookie_inline(struct __sk_buff *skb)
{
	struct sk_buff___enilb *kskb = bpf_cast_to_kern_ctx(skb);
	struct net_device___enilb *dev = kskb->dev;
	struct net___enilb *net;

	if (!dev)
		return 0;
	net = dev->nd_net.net;
	return net ? net->net_cookie : 0;
}

/* The same, as a global function for the programs of the other objects (nic_egress.bpf.c). */
__u64 pod_netns_cookie(struct __sk_buff *skb);

#endif
