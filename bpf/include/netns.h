/* netns.h: which pod a packet belongs to: the network namespace of the device it crosses. */
#ifndef ENILB_NETNS_H
#define ENILB_NETNS_H

#include <linux/bpf.h>

/* The cookie of the namespace of the device the packet crosses: the pod's, for every packet on
 * its NIC or its loopback; equal to getsockopt(SO_NETNS_COOKIE) of a socket opened in the pod
 * (io.enilb.bpf.Netns). Defined once, in netns.bpf.c. */
__u64 pod_netns_cookie(struct __sk_buff *skb);

#endif
