/* nic_egress.bpf.c: tc egress on the pod's own NIC: ClusterIP -> backend (DNAT), conntrack, affinity, self-access, reject, fragments, ICMP errors. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "structs.h"
#include "maps.h"
#include "packet.h"
#include "nat.h"
#include "conntrack.h"
#include "reject.h"
#include "fib.h"
#include "frag.h"
#include "guard.h"

#define NSEC_PER_SEC 1000000000ULL

/* The backend an existing flow keeps, or NULL when the flow must choose again: its backend
 * is gone, or a new TCP connection reuses the tuple while that backend is terminating. */
static __always_inline struct backend *established_backend(const struct tuple4 *t, __u32 *backend_id,
							   __u32 *ct_flags)
{
	struct ct_key k;
	struct ct_value *ct;
	struct backend *be;

	ct_key_original(&k, t);
	ct = bpf_map_lookup_elem(&enilb_ct4_v1, &k);
	if (!ct)
		return NULL;
	be = bpf_map_lookup_elem(&enilb_be4_v1, &ct->backend_id);
	if (!be)
		return NULL;
	if (is_tcp_syn_only(t) && (be->flags & BACKEND_F_TERMINATING))
		return NULL;
	*backend_id = ct->backend_id;
	*ct_flags = ct->flags;
	return be;
}

/* ClientIP affinity: the client's last backend while it is fresh and still takes new flows. */
static __always_inline struct backend *affine_backend(const struct svc_value *svc, const struct tuple4 *t,
						      __u64 now, __u32 *backend_id)
{
	struct affinity_key k = { .svc_id = svc->svc_id, .client = t->saddr };
	struct affinity_value *a;
	struct backend *be;

	if (!svc->affinity_timeout)
		return NULL;
	a = bpf_map_lookup_elem(&enilb_aff4_v1, &k);
	if (!a || now - a->last_used_ns > svc->affinity_timeout * NSEC_PER_SEC)
		return NULL;
	be = bpf_map_lookup_elem(&enilb_be4_v1, &a->backend_id);
	if (!be || (be->flags & BACKEND_F_TERMINATING))
		return NULL;
	*backend_id = a->backend_id;
	return be;
}

static __always_inline void remember_affinity(const struct svc_value *svc, const struct tuple4 *t,
					      __u64 now, __u32 backend_id)
{
	struct affinity_key k = { .svc_id = svc->svc_id, .client = t->saddr };
	struct affinity_value v = { .last_used_ns = now, .backend_id = backend_id, .pad = 0 };

	if (svc->affinity_timeout)
		bpf_map_update_elem(&enilb_aff4_v1, &k, &v, BPF_ANY);
}

static __always_inline struct backend *random_backend(const struct svc_value *svc, __u32 *backend_id)
{
	struct slot_key k = { .svc_id = svc->svc_id, .slot = bpf_get_prandom_u32() % svc->active };
	struct slot_value *slot;
	struct backend *be;

	slot = bpf_map_lookup_elem(&enilb_slot4_v1, &k);
	if (!slot) {
		count_drop(DROP_SLOT_MISSING);
		return NULL;
	}
	be = bpf_map_lookup_elem(&enilb_be4_v1, &slot->backend_id);
	if (!be) {
		count_drop(DROP_BACKEND_MISSING);
		return NULL;
	}
	*backend_id = slot->backend_id;
	return be;
}

/* Attached at tc egress of the pod's NIC; sees what the pod sends towards the fabric. */
SEC("tc")
int enilb_egress(struct __sk_buff *skb)
{
	struct tuple4 t;
	struct svc_key sk = {};
	struct svc_value *svc;
	struct svc_stats *stats;
	struct backend *be;
	__u32 backend_id = 0, ct_flags = 0;
	int rc;

	rc = parse_flow4(skb, &t);
	if (rc != PARSE_FLOW)
		return egress_untranslated(skb, &t, rc);
	sk.addr = t.daddr;
	sk.port = t.dport;
	sk.proto = t.proto;
	svc = bpf_map_lookup_elem(&enilb_svc4_v1, &sk);
	if (!svc)
		return egress_untranslated(skb, &t, rc);

	stats = svc_stats(svc->svc_id);
	if (stats) {
		stats->packets += 1;
		stats->bytes += skb->len;
	}

	be = established_backend(&t, &backend_id, &ct_flags);
	if (!be) {
		__u64 now = bpf_ktime_get_ns();

		if (svc->active == 0)
			return reject_port_unreachable(skb, &t, DROP_NO_BACKEND);
		be = affine_backend(svc, &t, now, &backend_id);
		if (!be)
			be = random_backend(svc, &backend_id);
		if (!be)
			return TC_ACT_SHOT;
		remember_affinity(svc, &t, now, backend_id);
		ct_flags = be->addr == t.saddr ? CT_F_SELF : 0;
		if (ct_create(&t, be, backend_id, svc->svc_id, ct_flags)) {
			count_drop(DROP_CT_FULL);
			return TC_ACT_SHOT;
		}
		if (stats)
			stats->new_flows += 1;
	}

	if (nat_rewrite4(skb, &t, 1, be->addr, be->port)) {
		count_drop(DROP_REWRITE_FAILED);
		return TC_ACT_SHOT;
	}
	if (frag_remember(skb, &t))
		return TC_ACT_SHOT;
	return (ct_flags & CT_F_SELF) ? to_loopback(skb) : to_next_hop(skb);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
