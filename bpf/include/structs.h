/* structs.h: the ABI between the kernel programs and the Java layer (io.enilb.bpf): map keys and values. */
#ifndef ENILB_STRUCTS_H
#define ENILB_STRUCTS_H

#include <linux/types.h>
#include <linux/in6.h>

/* Every struct here is read and written byte for byte by Java (io.enilb.bpf.Structs). A test
 * compares each Java layout with this object's BTF; keep padding explicit, never implicit. */

/* A frontend: ClusterIP, port and protocol, as a client addresses it. */
struct svc_key {
	__be32 addr;
	__be16 port;
	__u8 proto;		/* IPPROTO_TCP or IPPROTO_UDP */
	__u8 pad;
};

/* What a frontend resolves to. */
struct svc_value {
	__u32 svc_id;		/* index into slots, reverse NAT, affinity and counters */
	__u32 active;		/* number of backend slots (0 .. active-1) taking new flows */
	__u32 affinity_timeout;	/* ClientIP affinity in seconds, 0 = none */
	__u32 flags;		/* reserved, 0 */
};

/* Slot n of a frontend's active backends. */
struct slot_key {
	__u32 svc_id;
	__u32 slot;
};

struct slot_value {
	__u32 backend_id;
};

#define BACKEND_F_TERMINATING 0x1	/* keeps established flows, takes no new ones */

/* One endpoint of one frontend; ids are allocated per frontend, so state is per frontend. */
struct backend {
	__be32 addr;
	__be16 port;
	__u8 flags;		/* BACKEND_F_* */
	__u8 pad;
	__u32 svc_id;		/* the frontend this id was allocated for: an entry naming another is stale */
};

/* What the reply direction is translated back to. */
struct revnat_value {
	__be32 addr;
	__be16 port;
	__u16 pad;
};

#define CT_DIR_ORIGINAL 0	/* client -> ClusterIP, as the client sent it */
#define CT_DIR_REPLY 1		/* backend -> client, as the backend answers */

/* A flow as one direction of one pod sees it. */
struct ct_key {
	__u64 netns_cookie;	/* the pod's network namespace: pods never share (or overwrite) entries */
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 dir;		/* CT_DIR_* */
	__u16 pad;
};

/* TCP states as enilb sees them from one side; everything else is CT_OTHER. */
#define CT_SYN_SENT 1		/* the client's SYN went out, nothing came back yet */
#define CT_ESTABLISHED 2	/* the backend answered, or the client sent more than a SYN */
#define CT_CLOSING 3		/* a FIN or RST went either way */
#define CT_OTHER 4		/* UDP: one lifetime, refreshed by traffic */

#define CT_F_SELF 0x1		/* the pod reached itself: the flow runs over loopback */

/* One direction of a flow: what it is translated to and until when the entry is alive. Both
 * entries of a flow hold the same expiry, state, backend and service. */
struct ct_value {
	__u64 expires_ns;	/* CLOCK_MONOTONIC; an entry past it counts as absent */
	__be32 nat_addr;	/* original: the backend; reply: the ClusterIP */
	__be16 nat_port;	/* original: the backend's port; reply: the Service port */
	__u8 state;		/* CT_SYN_SENT .. CT_OTHER */
	__u8 flags;		/* CT_F_* */
	__u32 backend_id;	/* validated against the backend map before it is trusted */
	__u32 svc_id;
};

/* Conntrack lifetimes in ns, written by the daemon; zero picks the compiled default. */
struct ct_config {
	__u64 syn_ns;
	__u64 established_ns;
	__u64 closing_ns;
	__u64 other_ns;
	/* The prefix every ClusterIP lies in (the Service CIDR). A TCP packet to no frontend is
	 * looked up in conntrack (it may belong to a Service deleted meanwhile) only when its
	 * destination is inside: other traffic of the pod skips that lookup. Mask 0: everything. */
	__be32 frontend_net;
	__be32 frontend_mask;
};

/* An address a pod owns, in the pod's network namespace: the sources it may open flows from. */
struct pod_key {
	__u64 netns_cookie;
	__be32 addr;
	__u32 pad;
};

struct pod_value {
	__u32 flags;		/* reserved, 0 */
	__u32 pad;
};

/* ClientIP session affinity: one client of one frontend. */
struct affinity_key {
	__u32 svc_id;
	__be32 client;
};

struct affinity_value {
	__u64 last_used_ns;	/* bpf_ktime_get_ns() of the last new flow */
	__u32 backend_id;
	__u32 pad;
};

/* Per-CPU traffic of one frontend. */
struct svc_stats {
	__u64 packets;
	__u64 bytes;
	__u64 new_flows;
};

/* Why a packet was not translated normally; index of the drop counter map. */
enum drop_reason {
	DROP_NO_BACKEND = 0,	/* frontend without an active backend: rejected with ICMP */
	DROP_SLOT_MISSING,	/* slot below 'active' absent (a writer bug or a race) */
	DROP_BACKEND_MISSING,	/* slot names a backend that is gone */
	DROP_CT_FULL,		/* the conntrack table is full of live flows: a new flow is refused */
	DROP_REWRITE_FAILED,	/* a packet write or checksum update failed */
	DROP_REJECT_FAILED,	/* building the ICMP reject failed */
	DROP_SPOOFED,		/* a new flow from a source address the pod does not own */
	/* every packet of a translated flow is translated, nothing leaks */
	DROP_FRAG_NO_FIRST,	/* a later fragment to a ClusterIP whose first fragment was not seen */
	DROP_FRAG_FULL,		/* the fragment map refused an entry */
	DROP_ICMP_UNTRANSLATABLE, /* an ICMP error to a ClusterIP that names no known flow */
	DROP_UNTRANSLATABLE,	/* to a ClusterIP but no Service port, or not parsable as TCP/UDP */
	/* append only: user space (Maps.DropReason) mirrors the order */
	DROP_REASON_MAX,
};

/* ---- fragments and ClusterIP addresses ---- */

/* One IPv4 datagram in fragments, as its fragments carry it, in one pod's namespace. */
struct frag_key {
	__u64 netns_cookie;	/* bpf_get_netns_cookie(skb): pods never share entries */
	__be32 saddr;
	__be32 daddr;
	__be16 id;		/* the IP identification shared by the datagram's fragments */
	__u8 proto;
	__u8 pad[5];
};

/* The ports the first fragment carried; later fragments are translated as if they had them. */
struct frag_value {
	__be16 sport;
	__be16 dport;
};

/* A ClusterIP: an address with at least one frontend (any port, any protocol). */
struct vip_key {
	__be32 addr;
};

struct vip_value {
	__u32 frontends;	/* how many frontends the address has (informational; presence is what counts) */
};

/* ---- Flow events: what the datapath tells the daemon, through enilb_flows4_v2 ---- */

#define FLOW_EV_NEW 1		/* a flow got its backend (conntrack entries written) */
#define FLOW_EV_REJECT 2	/* a frontend without endpoints: answered with ICMP port unreachable */
#define FLOW_EV_DROP 3		/* a new flow refused: drop_reason says why (CT_FULL, SPOOFED ...) */

#define FLOW_VIA_RANDOM 1	/* a random active backend */
#define FLOW_VIA_AFFINITY 2	/* the client's ClientIP-affinity backend */

/* One event, written into the ring buffer as is. Established packets never emit one. */
struct flow_event {
	__u64 ts_ns;		/* bpf_ktime_get_ns(), CLOCK_MONOTONIC */
	__u64 netns_cookie;	/* the pod's network namespace */
	__be32 saddr;		/* the client (pod) address and port */
	__be32 daddr;		/* the frontend: ClusterIP, port, proto */
	__be16 sport;
	__be16 dport;
	__be32 backend_addr;	/* FLOW_EV_NEW: the chosen backend, else 0 */
	__be16 backend_port;
	__u8 proto;
	__u8 type;		/* FLOW_EV_* */
	__u32 svc_id;
	__u32 backend_id;	/* FLOW_EV_NEW, else 0 */
	__u8 via;		/* FLOW_EV_NEW: FLOW_VIA_*, else 0 */
	__u8 reason;		/* FLOW_EV_DROP / FLOW_EV_REJECT: enum drop_reason */
	__u16 pad;
};

/* How many events each CPU may emit, written by the daemon (flows.rate, flows.burst); all
 * zero (never written) means no events at all. */
struct flow_config {
	__u32 rate;		/* events per second per CPU */
	__u32 burst;		/* events a CPU may emit at once after a quiet spell */
};

/* One CPU's rate limiter state and what it emitted and lost. */
struct flow_limiter {
	__u64 next_ns;		/* GCRA theoretical arrival time of the next event */
	__u64 emitted;
	__u64 lost_rate;	/* over the rate: not emitted */
	__u64 lost_full;	/* the ring buffer was full: the reader falls behind */
};

/* ---- Service translation at the socket (sock.bpf.c) ---- */

/* A network namespace whose sockets the cgroup programs translate (a pod enilb attached). */
struct sock_scope {
	__be32 client;		/* the pod's first IPv4 address: ClientIP affinity of unbound sockets */
	__u32 pad;
};

/* Where a connected socket was sent (socket local storage): getpeername and replies show the
 * frontend again. */
struct sock_nat {
	__be32 frontend_addr;
	__be32 backend_addr;
	__be16 frontend_port;
	__be16 backend_port;
	__u32 pad;
};

/* One destination of an unconnected UDP socket, in one direction, like a conntrack pair:
 * ORIGINAL keyed by the frontend the datagram was sent to, REPLY by the backend it went to. */
struct sock_flow_key {
	__u64 sock_cookie;	/* bpf_get_socket_cookie(): unique while the host runs */
	__be32 addr;
	__be16 port;
	__u8 dir;		/* CT_DIR_* */
	__u8 pad;
};

struct sock_flow_value {
	__u64 last_used_ns;	/* ct_now() of the last datagram either way, refreshed every 1/8 lifetime */
	__be32 nat_addr;	/* ORIGINAL: the backend; REPLY: the frontend */
	__be16 nat_port;
	__u16 pad;
	__u32 backend_id;	/* ORIGINAL: validated as conntrack does before it is reused */
	__u32 svc_id;
};

/* ---- IPv6 ----
 * The IPv4 structs with 16-byte addresses (struct in6_addr, network order); what holds no address
 * (svc_value, slot_key/slot_value, affinity_value, pod_value, frag_value, vip_value, svc_stats)
 * is shared. Service ids are one space for both families: a dual-stack Service has one frontend,
 * and one id, per family (as kube-proxy treats them), so stats and drops are one array each. */

struct svc6_key {
	struct in6_addr addr;
	__be16 port;
	__u8 proto;
	__u8 pad;
};

struct backend6 {
	struct in6_addr addr;
	__be16 port;
	__u8 flags;		/* BACKEND_F_* */
	__u8 pad;
	__u32 svc_id;
};

struct revnat6_value {
	struct in6_addr addr;
	__be16 port;
	__u16 pad;
};

struct ct6_key {
	__u64 netns_cookie;
	struct in6_addr saddr;
	struct in6_addr daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 dir;		/* CT_DIR_* */
	__u16 pad;
};

/* States, flags, lifetimes and the twin rule as struct ct_value. */
struct ct6_value {
	__u64 expires_ns;
	struct in6_addr nat_addr;
	__be16 nat_port;
	__u8 state;
	__u8 flags;
	__u32 backend_id;
	__u32 svc_id;
	__u32 pad;
};

struct affinity6_key {
	__u32 svc_id;
	struct in6_addr client;
};

struct pod6_key {
	__u64 netns_cookie;
	struct in6_addr addr;
};

/* One IPv6 datagram in fragments: the fragment header's identification is 32 bits. */
struct frag6_key {
	__u64 netns_cookie;
	struct in6_addr saddr;
	struct in6_addr daddr;
	__be32 id;
	__u8 proto;		/* the upper-layer protocol after the fragment header */
	__u8 pad[3];
};

struct vip6_key {
	struct in6_addr addr;
};

/* The IPv6 Service CIDR (ct_config's frontend_net/mask for IPv6; the lifetimes there serve both
 * families). Mask all zero: frontends anywhere. */
struct frontend_prefix6 {
	struct in6_addr net;
	struct in6_addr mask;
};

/* An IPv6 flow event (struct flow_event with 16-byte addresses), in the same ring buffer; the
 * reader tells the two apart by the record's size (48 or 88 bytes). */
struct flow_event6 {
	__u64 ts_ns;		/* bpf_ktime_get_ns(), CLOCK_MONOTONIC */
	__u64 netns_cookie;	/* the pod's network namespace */
	struct in6_addr saddr;	/* the client (pod) address and port */
	struct in6_addr daddr;	/* the frontend: ClusterIP, port, proto */
	struct in6_addr backend_addr;	/* FLOW_EV_NEW: the chosen backend, else :: */
	__be16 sport;
	__be16 dport;
	__be16 backend_port;
	__u8 proto;
	__u8 type;		/* FLOW_EV_* */
	__u32 svc_id;
	__u32 backend_id;	/* FLOW_EV_NEW, else 0 */
	__u8 via;		/* FLOW_EV_NEW: FLOW_VIA_*, else 0 */
	__u8 reason;		/* FLOW_EV_DROP / FLOW_EV_REJECT: enum drop_reason */
	__u16 pad;
	__u32 pad2;
};

/* ---- Service translation at the socket, IPv6 (sock.bpf.c): the IPv4 structs above with
 * 16-byte addresses. */

struct sock_scope6 {
	struct in6_addr client;	/* the pod's first IPv6 address: ClientIP affinity of unbound sockets */
};

struct sock_nat6 {
	struct in6_addr frontend_addr;
	struct in6_addr backend_addr;
	__be16 frontend_port;
	__be16 backend_port;
	__u32 pad;
};

struct sock_flow6_key {
	__u64 sock_cookie;
	struct in6_addr addr;
	__be16 port;
	__u8 dir;		/* CT_DIR_* */
	__u8 pad[5];
};

struct sock_flow6_value {
	__u64 last_used_ns;
	struct in6_addr nat_addr;
	__be16 nat_port;
	__u16 pad;
	__u32 backend_id;
	__u32 svc_id;
	__u32 pad2;		/* the size a multiple of last_used_ns's alignment */
};

#endif
