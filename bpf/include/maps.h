/* maps.h: the pinned maps, shared by every program and written by the nat-map verticle. */
#ifndef ENILB_MAPS_H
#define ENILB_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "structs.h"

/* Defaults; the loader may set other sizes before load (bpf.max-services ...). */
#ifndef MAX_SERVICES
#define MAX_SERVICES 65536
#endif
#ifndef MAX_BACKENDS
#define MAX_BACKENDS 262144
#endif
#ifndef CT_SIZE
#define CT_SIZE 262144
#endif
#ifndef AFFINITY_SIZE
#define AFFINITY_SIZE 65536
#endif
#ifndef MAX_POD_ADDRS
#define MAX_POD_ADDRS 4096
#endif

/* The maps are __weak so that each per-attach-point object may declare them and the static
 * linker folds them into one. Names follow enilb_<what><family>_v<N>: bump N on a layout
 * change. v2 is one set: every map moved with conntrack's new layout, so that an upgrade is
 * "v1 set -> v2 set" (io.enilb.bpf.MigrationV1). */

/* frontend (ClusterIP:port/proto) -> service id, active slot count, affinity */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_SERVICES);
	__type(key, struct svc_key);
	__type(value, struct svc_value);
} enilb_svc4_v2 SEC(".maps") __weak;

/* (service id, slot) -> backend id of an active backend */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_BACKENDS);
	__type(key, struct slot_key);
	__type(value, struct slot_value);
} enilb_slot4_v2 SEC(".maps") __weak;

/* backend id -> backend address, port, state and the service id it belongs to */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct backend);
} enilb_be4_v2 SEC(".maps") __weak;

/* service id -> ClusterIP:port; the datapath translates replies from the conntrack entry
 * itself (an id recycled meanwhile cannot change them), user space reads this one */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct revnat_value);
} enilb_rnat4_v2 SEC(".maps") __weak;

/* flow in one direction of one pod -> translation, state, expiry.
 * A plain HASH, preallocated, not LRU: when it is full an insert fails with E2BIG and nothing
 * is evicted, so a live flow can never lose its entry to a new one (a full LRU evicts the
 * least recently used entry, idle but alive). New flows then fail visibly (DROP_CT_FULL),
 * replacing an existing key still succeeds (the kernel keeps a spare element per CPU for
 * that), and user space (io.enilb.bpf.ConntrackGc) removes the expired entries. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CT_SIZE);
	__type(key, struct ct_key);
	__type(value, struct ct_value);
} enilb_ct4_v2 SEC(".maps") __weak;

/* (service id, client address) -> backend chosen last and when; LRU: a preference, not a flow */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, AFFINITY_SIZE);
	__type(key, struct affinity_key);
	__type(value, struct affinity_value);
} enilb_aff4_v2 SEC(".maps") __weak;

/* service id -> per-CPU packets, bytes and new flows */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct svc_stats);
} enilb_stat4_v2 SEC(".maps") __weak;

/* drop reason -> per-CPU packet count */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DROP_REASON_MAX);
	__type(key, __u32);
	__type(value, __u64);
} enilb_drop4_v2 SEC(".maps") __weak;

/* 0 -> conntrack lifetimes, written by the daemon at start */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ct_config);
} enilb_cfg4_v2 SEC(".maps") __weak;

/* (pod netns, address) -> present when the pod owns that source address */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_POD_ADDRS);
	__type(key, struct pod_key);
	__type(value, struct pod_value);
} enilb_pod4_v2 SEC(".maps") __weak;

/* Counts a dropped (or otherwise failed) packet; defined once, in drops.bpf.c. */
int count_drop(enum drop_reason reason);

/* The clock as this CPU last read it (conntrack.h ct_now); private to one load, never pinned. */
struct clock_cache {
	__u64 jiffies;
	__u64 now_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct clock_cache);
} enilb_clock SEC(".maps") __weak;

static __always_inline struct svc_stats *svc_stats(__u32 svc_id)
{
	return bpf_map_lookup_elem(&enilb_stat4_v2, &svc_id);
}

/* ---- fragments and ClusterIP addresses ---- */

#ifndef FRAG_SIZE
#define FRAG_SIZE 8192
#endif

/* (netns, source, destination, IP id, protocol) of a fragmented datagram -> the ports its first
 * fragment carried. LRU: an entry only bridges one datagram's fragments (milliseconds), so
 * evicting the oldest for a new datagram is right here, unlike conntrack. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FRAG_SIZE);
	__type(key, struct frag_key);
	__type(value, struct frag_value);
} enilb_frag4_v2 SEC(".maps") __weak;

/* ClusterIP address -> its frontend count; written by the nat-map verticle with the frontends.
 * The frontend map answers "is addr:port/proto a Service?"; what must not leak is every packet to
 * a Service address (other ports, ICMP, later fragments, unparsable headers), which needs a
 * lookup by address alone (kube-proxy's nftables mode keeps a cluster-ips set for this). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_SERVICES);
	__type(key, struct vip_key);
	__type(value, struct vip_value);
} enilb_vip4_v2 SEC(".maps") __weak;

static __always_inline int is_cluster_ip(__be32 addr)
{
	struct vip_key k = { .addr = addr };

	return bpf_map_lookup_elem(&enilb_vip4_v2, &k) != NULL;
}

/* ---- Service translation at the socket (sock.bpf.c) ---- */

/* pod netns cookie -> present when the pod's sockets are translated at connect/sendmsg; written at
 * CNI ADD with the pods' addresses (io.enilb.bpf.Datapath.registerAddresses), removed at DEL */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_POD_ADDRS);
	__type(key, __u64);
	__type(value, struct sock_scope);
} enilb_sockscope4_v2 SEC(".maps") __weak;

/* socket -> the frontend and backend it was connected to; lives and dies with the socket */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sock_nat);
} enilb_socknat4_v2 SEC(".maps") __weak;

#ifndef SOCK_FLOW_SIZE
#define SOCK_FLOW_SIZE 65536
#endif

/* (unconnected UDP socket, destination, direction) -> translation. LRU, unlike conntrack: an
 * evicted ORIGINAL entry only lets the next datagram choose again, an evicted REPLY entry shows
 * a reply's true source; no packet is lost and the socket itself holds nothing to clean up.
 * A closed socket's entries are never used again (its cookie is never reused), so they are the
 * least recently used and go first when the map fills: they cannot pile up past its size, and
 * no GC is needed (an expired entry left behind costs only its slot; the next datagram of a
 * live socket replaces it). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SOCK_FLOW_SIZE);
	__type(key, struct sock_flow_key);
	__type(value, struct sock_flow_value);
} enilb_sockflow4_v3 SEC(".maps") __weak;
/* ---- IPv6: the IPv4 maps with 16-byte addresses. Service stats
 * (enilb_stat4_v2), drop counters (enilb_drop4_v2) and lifetimes (enilb_cfg4_v2) are shared:
 * one service id space for both families. Types and sizes follow their IPv4 twins (same reasons). */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_SERVICES);
	__type(key, struct svc6_key);
	__type(value, struct svc_value);
} enilb_svc6_v2 SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_BACKENDS);
	__type(key, struct slot_key);
	__type(value, struct slot_value);
} enilb_slot6_v2 SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct backend6);
} enilb_be6_v2 SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct revnat6_value);
} enilb_rnat6_v2 SEC(".maps") __weak;

/* HASH, never LRU: a live flow is never evicted (see enilb_ct4_v2) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CT_SIZE);
	__type(key, struct ct6_key);
	__type(value, struct ct6_value);
} enilb_ct6_v2 SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, AFFINITY_SIZE);
	__type(key, struct affinity6_key);
	__type(value, struct affinity_value);
} enilb_aff6_v2 SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_POD_ADDRS);
	__type(key, struct pod6_key);
	__type(value, struct pod_value);
} enilb_pod6_v2 SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FRAG_SIZE);
	__type(key, struct frag6_key);
	__type(value, struct frag_value);
} enilb_frag6_v2 SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_SERVICES);
	__type(key, struct vip6_key);
	__type(value, struct vip_value);
} enilb_vip6_v2 SEC(".maps") __weak;

/* 0 -> the IPv6 Service CIDR */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct frontend_prefix6);
} enilb_cfg6_v2 SEC(".maps") __weak;

/* ---- Service translation at the socket, IPv6: the three maps above for IPv6 sockets ---- */

/* pod netns cookie -> present when the pod has an IPv6 address; its first one */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_POD_ADDRS);
	__type(key, __u64);
	__type(value, struct sock_scope6);
} enilb_sockscope6_v2 SEC(".maps") __weak;

/* IPv6 socket -> the frontend and backend it was connected to */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sock_nat6);
} enilb_socknat6_v2 SEC(".maps") __weak;

/* (unconnected UDP socket, IPv6 destination, direction) -> translation; LRU as its IPv4 twin */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SOCK_FLOW_SIZE);
	__type(key, struct sock_flow6_key);
	__type(value, struct sock_flow6_value);
} enilb_sockflow6_v3 SEC(".maps") __weak;

#endif
