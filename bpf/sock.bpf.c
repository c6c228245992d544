/* sock.bpf.c: cgroup socket hooks (connect4, sendmsg4, recvmsg4, getpeername4): a Service is translated once per socket, in the pods enilb attached; no packet of the flow carries the ClusterIP. */
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/errno.h>
#include <bpf/bpf_helpers.h>
#include "structs.h"
#include "maps.h"
#include "conntrack.h"
#include "select4.h"

/* What a cgroup sock_addr program returns: 0 fails the system call (with the errno set by
 * bpf_set_retval, EPERM without it), 1 lets it go on. */
#define SYS_REJECT 0
#define SYS_PROCEED 1

/* Attached at the cgroup v2 root, so these run for every socket of the host: only namespaces
 * enilb attached (a pod's, registered at CNI ADD) are translated; everything else proceeds as
 * it came. */
static __always_inline struct sock_scope *sock_scope(struct bpf_sock_addr *ctx, __u64 *netns)
{
	*netns = bpf_get_netns_cookie(ctx);
	return bpf_map_lookup_elem(&enilb_sockscope4_v2, netns);
}

/* The frontend the call addresses, as the tc path would look it up from the first packet. */
static __always_inline int sock_frontend(struct bpf_sock_addr *ctx, struct svc_value *svc)
{
	struct svc_key k = { .addr = ctx->user_ip4, .port = (__be16)ctx->user_port,
			     .proto = (__u8)ctx->protocol, .pad = 0 };
	struct svc_value *p = bpf_map_lookup_elem(&enilb_svc4_v2, &k);

	if (!p)
		return -1;
	*svc = *p;
	return 0;
}

/* The client address ClientIP affinity is keyed by, the one tc sees as the packets' source: the
 * address the socket is bound to when the pod owns it, else the pod's first address (the kernel
 * picks the source only after connect, from the route). */
static __always_inline __be32 sock_client(struct bpf_sock_addr *ctx, __u64 netns, const struct sock_scope *scope)
{
	struct bpf_sock *sk = ctx->sk;
	struct pod_key pk = { .netns_cookie = netns, .addr = 0, .pad = 0 };

	if (!sk)
		return scope->client;
	pk.addr = sk->src_ip4;
	if (pk.addr && bpf_map_lookup_elem(&enilb_pod4_v2, &pk))
		return pk.addr;
	return scope->client;
}

/* A backend for a new socket flow, chosen as the tc path chooses (select_family.h). 0 with be and
 * backend_id filled; -ECONNREFUSED when the frontend has no backend; -1 when the choice failed
 * (counted): the call then proceeds untranslated and tc handles its packets. */
static __always_inline int sock_choose(const struct svc_value *svc, __be32 client, struct backend *be,
				       __u32 *backend_id)
{
	struct svc_stats *stats;

	if (svc->active == 0) {
		count_drop(DROP_NO_BACKEND);
		return -ECONNREFUSED;
	}
	if (select_backend(svc, client, ct_now(), be, backend_id))
		return -1;
	stats = svc_stats(svc->svc_id);
	if (stats)
		stats->new_flows += 1;
	return 0;
}

/* No endpoints: the call fails at once with ECONNREFUSED, what the tc path's ICMP port
 * unreachable gives a TCP connect (Cilium's sock LB does the same through bpf_set_retval). */
static __always_inline int refuse(void)
{
	bpf_set_retval(-ECONNREFUSED);
	return SYS_REJECT;
}

/* connect() of a TCP or UDP socket in a pod: a frontend becomes the chosen backend before the
 * kernel routes or sends anything; the socket remembers both for getpeername and replies. */
SEC("cgroup/connect4")
int enilb_connect4(struct bpf_sock_addr *ctx)
{
	struct sock_scope *scope;
	struct sock_nat *nat;
	struct svc_value svc;
	struct backend be;
	__u32 backend_id;
	__u64 netns;
	int rc;

	if (ctx->protocol != IPPROTO_TCP && ctx->protocol != IPPROTO_UDP)
		return SYS_PROCEED;
	scope = sock_scope(ctx, &netns);
	if (!scope)
		return SYS_PROCEED;
	if (sock_frontend(ctx, &svc)) {
		/* a UDP socket connected again elsewhere must not show its old Service */
		if (ctx->protocol == IPPROTO_UDP)
			bpf_sk_storage_delete(&enilb_socknat4_v2, ctx->sk);
		return SYS_PROCEED;
	}
	rc = sock_choose(&svc, sock_client(ctx, netns, scope), &be, &backend_id);
	if (rc == -ECONNREFUSED)
		return refuse();
	if (rc)
		return SYS_PROCEED;
	nat = bpf_sk_storage_get(&enilb_socknat4_v2, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!nat)
		return SYS_PROCEED;	/* no memory for it: tc translates this flow instead */
	nat->frontend_addr = ctx->user_ip4;
	nat->frontend_port = (__be16)ctx->user_port;
	nat->backend_addr = be.addr;
	nat->backend_port = be.port;
	nat->pad = 0;
	ctx->user_ip4 = be.addr;
	ctx->user_port = be.port;
	return SYS_PROCEED;
}

/* The REPLY twin of an unconnected socket's ORIGINAL entry: the backend shows as the frontend. */
static __always_inline void sock_flow_reply(__u64 sock, const struct sock_flow_value *orig, __be32 frontend,
					    __be16 frontend_port)
{
	struct sock_flow_key rk = { .sock_cookie = sock, .addr = orig->nat_addr, .port = orig->nat_port,
				    .dir = CT_DIR_REPLY, .pad = 0 };
	struct sock_flow_value rv = { .nat_addr = frontend, .nat_port = frontend_port, .pad = 0,
				      .backend_id = orig->backend_id, .svc_id = orig->svc_id };

	bpf_map_update_elem(&enilb_sockflow4_v2, &rk, &rv, BPF_ANY);
}

/* sendto()/sendmsg() with an address on an unconnected UDP socket of a pod. The socket keeps
 * its backend per frontend while that backend stays the one chosen (the tc path's UDP rule: a
 * removed or recycled backend makes the next datagram choose again; terminating keeps it). */
SEC("cgroup/sendmsg4")
int enilb_sendmsg4(struct bpf_sock_addr *ctx)
{
	struct sock_flow_key k = { .dir = CT_DIR_ORIGINAL, .pad = 0 };
	struct sock_flow_value *p;
	struct sock_flow_value v;
	struct sock_scope *scope;
	struct svc_value svc;
	struct backend be;
	__u64 netns;
	int rc;

	scope = sock_scope(ctx, &netns);
	if (!scope || sock_frontend(ctx, &svc))
		return SYS_PROCEED;
	k.sock_cookie = bpf_get_socket_cookie(ctx);
	k.addr = ctx->user_ip4;
	k.port = (__be16)ctx->user_port;
	p = bpf_map_lookup_elem(&enilb_sockflow4_v2, &k);
	if (p) {
		v = *p;
		if (v.svc_id == svc.svc_id && backend_unchanged(v.backend_id, v.nat_addr, v.nat_port, v.svc_id, &be)) {
			struct sock_flow_key rk = { .sock_cookie = k.sock_cookie, .addr = v.nat_addr,
						    .port = v.nat_port, .dir = CT_DIR_REPLY, .pad = 0 };

			if (!bpf_map_lookup_elem(&enilb_sockflow4_v2, &rk))
				sock_flow_reply(k.sock_cookie, &v, k.addr, k.port);
			goto translate;
		}
	}
	rc = sock_choose(&svc, sock_client(ctx, netns, scope), &be, &v.backend_id);
	if (rc == -ECONNREFUSED)
		return refuse();
	if (rc)
		return SYS_PROCEED;
	v.nat_addr = be.addr;
	v.nat_port = be.port;
	v.pad = 0;
	v.svc_id = svc.svc_id;
	bpf_map_update_elem(&enilb_sockflow4_v2, &k, &v, BPF_ANY);
	sock_flow_reply(k.sock_cookie, &v, k.addr, k.port);
translate:
	ctx->user_ip4 = v.nat_addr;
	ctx->user_port = v.nat_port;
	return SYS_PROCEED;
}

/* recvmsg()/recvfrom() on a UDP socket: a datagram from a backend the socket sent to through a
 * Service shows the Service as its source. Runs for every UDP socket of the host; a socket
 * enilb never translated costs a storage miss and a map miss. */
SEC("cgroup/recvmsg4")
int enilb_recvmsg4(struct bpf_sock_addr *ctx)
{
	struct sock_flow_key k = { .dir = CT_DIR_REPLY, .pad = 0 };
	struct sock_flow_value *p;
	struct sock_nat *nat;

	k.addr = ctx->user_ip4;
	k.port = (__be16)ctx->user_port;
	nat = bpf_sk_storage_get(&enilb_socknat4_v2, ctx->sk, 0, 0);
	if (nat && nat->backend_addr == k.addr && nat->backend_port == k.port) {
		ctx->user_ip4 = nat->frontend_addr;
		ctx->user_port = nat->frontend_port;
		return SYS_PROCEED;
	}
	k.sock_cookie = bpf_get_socket_cookie(ctx);
	p = bpf_map_lookup_elem(&enilb_sockflow4_v2, &k);
	if (p) {
		ctx->user_ip4 = p->nat_addr;
		ctx->user_port = p->nat_port;
	}
	return SYS_PROCEED;
}

/* getpeername() of a socket connected through a Service: the Service, as the program asked. */
SEC("cgroup/getpeername4")
int enilb_getpeername4(struct bpf_sock_addr *ctx)
{
	struct sock_nat *nat = bpf_sk_storage_get(&enilb_socknat4_v2, ctx->sk, 0, 0);

	if (nat && nat->backend_addr == ctx->user_ip4 && nat->backend_port == (__be16)ctx->user_port) {
		ctx->user_ip4 = nat->frontend_addr;
		ctx->user_port = nat->frontend_port;
	}
	return SYS_PROCEED;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
