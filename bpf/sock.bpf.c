/* sock.bpf.c: cgroup socket hooks (connect, sendmsg, recvmsg, getpeername; IPv4 and IPv6): a Service is translated once per socket, in the pods enilb attached; no packet of the flow carries the ClusterIP. */
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/errno.h>
#include <bpf/bpf_helpers.h>
#include "structs.h"
#include "maps.h"
#include "conntrack.h"
#include "events.h"

/* What a cgroup sock_addr program returns: 0 fails the system call (with the errno set by
 * bpf_set_retval, EPERM without it), 1 lets it go on. */
#define SYS_REJECT 0
#define SYS_PROCEED 1

/* No endpoints: the call fails at once with ECONNREFUSED, what the tc path's ICMP port
 * unreachable gives a TCP connect (Cilium's sock LB does the same through bpf_set_retval). */
static __always_inline int refuse(void)
{
	bpf_set_retval(-ECONNREFUSED);
	return SYS_REJECT;
}

/* How long ago an unconnected UDP socket's flow entry was last used. Its flow lives as long as
 * a UDP conntrack entry of the tc path (ct_lifetime(CT_OTHER), refreshed by traffic either way):
 * after that much silence the next datagram chooses again, as kube-proxy's and tc's would. 0
 * when now is behind last_used: ct_now() is per CPU and may lag another CPU's by a tick. */
static __always_inline __u64 sock_flow_age(__u64 last_used, __u64 now)
{
	return now > last_used ? now - last_used : 0;
}

/* ---- IPv4 ---- */
#include "select4.h"

/* The source port a flow event names: the socket's when it is bound (curl --local-port, any
 * socket that sent already), else 0: connect() picks it only after this hook. */
static __always_inline __be16 sock_port(const struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;

	return sk ? bpf_htons((__u16)sk->src_port) : 0;
}

#define EV_EVENT struct flow_event
#define EV_CT_KEY struct ct_key
#define EV_CT_VALUE struct ct_value
#define EV_FN(name) name
#include "events_family.h"

#define SK_FN(name) name##4
#define SK_DST_GET(ctx, a) (*(a) = (ctx)->user_ip4)
#define SK_DST_SET(ctx, a) ((ctx)->user_ip4 = *(a))
#define SK_SRC_GET(sk, a) (*(a) = (sk)->src_ip4)
#include "sock4.h"
#include "sock_family.h"

/* ---- IPv6: the same logic over 16-byte addresses, which the context holds as four words ---- */
#include "select6.h"

#define EV_EVENT struct flow_event6
#define EV_CT_KEY struct ct6_key
#define EV_CT_VALUE struct ct6_value
#define EV_FN(name) name##6
#include "events_family.h"

static __always_inline void sock_dst6_get(const struct bpf_sock_addr *ctx, struct in6_addr *a)
{
	a->in6_u.u6_addr32[0] = ctx->user_ip6[0];
	a->in6_u.u6_addr32[1] = ctx->user_ip6[1];
	a->in6_u.u6_addr32[2] = ctx->user_ip6[2];
	a->in6_u.u6_addr32[3] = ctx->user_ip6[3];
}

static __always_inline void sock_dst6_set(struct bpf_sock_addr *ctx, const struct in6_addr *a)
{
	ctx->user_ip6[0] = a->in6_u.u6_addr32[0];
	ctx->user_ip6[1] = a->in6_u.u6_addr32[1];
	ctx->user_ip6[2] = a->in6_u.u6_addr32[2];
	ctx->user_ip6[3] = a->in6_u.u6_addr32[3];
}

static __always_inline void sock_src6_get(const struct bpf_sock *sk, struct in6_addr *a)
{
	a->in6_u.u6_addr32[0] = sk->src_ip6[0];
	a->in6_u.u6_addr32[1] = sk->src_ip6[1];
	a->in6_u.u6_addr32[2] = sk->src_ip6[2];
	a->in6_u.u6_addr32[3] = sk->src_ip6[3];
}

static __always_inline int addr6_zero(const struct in6_addr *a)
{
	const __u64 *x = (const __u64 *)a;

	return (x[0] | x[1]) == 0;
}

#define SK_FN(name) name##6
#define SK_SEL(name) name##6
#define SK_ADDR struct in6_addr
#define SK_ADDR_EQ(a, b) addr6_eq(&(a), &(b))
#define SK_ADDR_ZERO(a) addr6_zero(&(a))
#define SK_BACKEND struct backend6
#define SK_DST_GET(ctx, a) sock_dst6_get(ctx, a)
#define SK_DST_SET(ctx, a) sock_dst6_set(ctx, a)
#define SK_SRC_GET(sk, a) sock_src6_get(sk, a)
#define SK_SVC_KEY struct svc6_key
#define SK_SVC_MAP enilb_svc6_v2
#define SK_POD_KEY struct pod6_key
#define SK_POD_MAP enilb_pod6_v2
#define SK_SCOPE struct sock_scope6
#define SK_SCOPE_MAP enilb_sockscope6_v2
#define SK_NAT struct sock_nat6
#define SK_NAT_MAP enilb_socknat6_v2
#define SK_FLOW_KEY struct sock_flow6_key
#define SK_FLOW_VALUE struct sock_flow6_value
#define SK_FLOW_MAP enilb_sockflow6_v3
#define SK_CT_KEY struct ct6_key
#define SK_CT_VALUE struct ct6_value
#define SK_EV(name) name##6
#include "sock_family.h"

/* ---- IPv4-mapped IPv6 (::ffff:a.b.c.d): an IPv6 socket that talks IPv4, Java's default on a
 * dual-stack host. Its packets are IPv4, so it is translated as IPv4 is, with the IPv4 maps
 * (Services, scope, the socket's storage, unconnected flows); the address keeps its mapped
 * prefix, only its last word changes. ---- */

static __always_inline int addr6_v4mapped(__u32 w0, __u32 w1, __u32 w2)
{
	return w0 == 0 && w1 == 0 && w2 == bpf_htonl(0xffff);
}

static __always_inline int sock_v4mapped(const struct bpf_sock_addr *ctx)
{
	return addr6_v4mapped(ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2]);
}

/* The IPv4 address an IPv6 socket is bound to, 0 when it is not bound to a mapped one. */
static __always_inline __be32 sock_src_v4mapped(const struct bpf_sock *sk)
{
	return addr6_v4mapped(sk->src_ip6[0], sk->src_ip6[1], sk->src_ip6[2]) ? sk->src_ip6[3] : 0;
}

#define SK_FN(name) name##46
#define SK_DST_GET(ctx, a) (*(a) = (ctx)->user_ip6[3])
#define SK_DST_SET(ctx, a) ((ctx)->user_ip6[3] = *(a))
#define SK_SRC_GET(sk, a) (*(a) = sock_src_v4mapped(sk))
#include "sock4.h"
#include "sock_family.h"

/* The IPv4-mapped instance runs as a function of its own (a BPF-to-BPF call): inlined next to
 * the IPv6 one, the compiler shares their last store to ctx->user_port through a ctx pointer
 * moved by the field's offset, which the verifier refuses ("dereference of modified ctx ptr"). */
#define SK_V4MAPPED_CALL(hook) \
	static __noinline int sock_##hook##_v4mapped(struct bpf_sock_addr *ctx) \
	{ \
		return sock_##hook##46(ctx); \
	}
SK_V4MAPPED_CALL(connect)
SK_V4MAPPED_CALL(recvmsg)
SK_V4MAPPED_CALL(getpeername)

/* ---- the programs: where each attaches and what it sees ---- */

/* connect() of a pod's TCP or UDP socket to an IPv4 address. */
SEC("cgroup/connect4")
int enilb_connect4(struct bpf_sock_addr *ctx)
{
	return sock_connect4(ctx);
}

/* connect() to an IPv6 address (an IPv4-mapped one as IPv4). */
SEC("cgroup/connect6")
int enilb_connect6(struct bpf_sock_addr *ctx)
{
	return sock_v4mapped(ctx) ? sock_connect_v4mapped(ctx) : sock_connect6(ctx);
}

/* sendto()/sendmsg() with an IPv4 address on a UDP socket. */
SEC("cgroup/sendmsg4")
int enilb_sendmsg4(struct bpf_sock_addr *ctx)
{
	return sock_sendmsg4(ctx);
}

/* sendto()/sendmsg() with an IPv6 address on a UDP socket. An IPv4-mapped destination never
 * comes here: udpv6_sendmsg hands it to udp_sendmsg as IPv4, which runs enilb_sendmsg4. */
SEC("cgroup/sendmsg6")
int enilb_sendmsg6(struct bpf_sock_addr *ctx)
{
	return sock_sendmsg6(ctx);
}

/* recvmsg()/recvfrom() on a UDP socket: the IPv4 source it reports. */
SEC("cgroup/recvmsg4")
int enilb_recvmsg4(struct bpf_sock_addr *ctx)
{
	return sock_recvmsg4(ctx);
}

/* recvmsg()/recvfrom() on a UDP socket: the IPv6 source it reports (an IPv4-mapped one as IPv4). */
SEC("cgroup/recvmsg6")
int enilb_recvmsg6(struct bpf_sock_addr *ctx)
{
	return sock_v4mapped(ctx) ? sock_recvmsg_v4mapped(ctx) : sock_recvmsg6(ctx);
}

/* getpeername() of an IPv4 socket. */
SEC("cgroup/getpeername4")
int enilb_getpeername4(struct bpf_sock_addr *ctx)
{
	return sock_getpeername4(ctx);
}

/* getpeername() of an IPv6 socket (an IPv4-mapped peer as IPv4). */
SEC("cgroup/getpeername6")
int enilb_getpeername6(struct bpf_sock_addr *ctx)
{
	return sock_v4mapped(ctx) ? sock_getpeername_v4mapped(ctx) : sock_getpeername6(ctx);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
