/* select.h: which backend a new flow of a frontend goes to: ClientIP affinity, else a random active backend. */
#ifndef ENILB_SELECT_H
#define ENILB_SELECT_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "structs.h"
#include "maps.h"

#ifndef NSEC_PER_SEC
#define NSEC_PER_SEC 1000000000ULL
#endif

/* Shared by the tc path (nic_egress.bpf.c, per packet of a new flow) and the socket path
 * (sock.bpf.c, per connect or datagram): both choose with the same slots, the same affinity
 * entries and the same validation, so a pod gets the same backend whichever path carries it. */

/* ClientIP affinity: the client's last backend while it is fresh, still belongs to this
 * service and takes new flows. Returns 0 and fills be/backend_id, or -1. */
static __always_inline int affine_backend(const struct svc_value *svc, __be32 client, __u64 now,
					  struct backend *be, __u32 *backend_id)
{
	struct affinity_key k = { .svc_id = svc->svc_id, .client = client };
	struct affinity_value *p;
	struct affinity_value a;
	struct backend *b;

	if (!svc->affinity_timeout)
		return -1;
	p = bpf_map_lookup_elem(&enilb_aff4_v2, &k);
	if (!p)
		return -1;
	a = *p;
	if (now - a.last_used_ns > svc->affinity_timeout * NSEC_PER_SEC)
		return -1;
	b = bpf_map_lookup_elem(&enilb_be4_v2, &a.backend_id);
	if (!b)
		return -1;
	*be = *b;
	if (be->svc_id != svc->svc_id || (be->flags & BACKEND_F_TERMINATING))
		return -1;
	*backend_id = a.backend_id;
	return 0;
}

static __always_inline void remember_affinity(const struct svc_value *svc, __be32 client, __u64 now,
					      __u32 backend_id)
{
	struct affinity_key k = { .svc_id = svc->svc_id, .client = client };
	struct affinity_value v = { .last_used_ns = now, .backend_id = backend_id, .pad = 0 };

	if (svc->affinity_timeout)
		bpf_map_update_elem(&enilb_aff4_v2, &k, &v, BPF_ANY);
}

/* A random active backend of the service: 0 and be/backend_id filled, or -1 (counted). */
static __always_inline int random_backend(const struct svc_value *svc, struct backend *be, __u32 *backend_id)
{
	struct slot_key k = { .svc_id = svc->svc_id, .slot = bpf_get_prandom_u32() % svc->active };
	struct slot_value *slot;
	struct backend *b;
	__u32 id;

	slot = bpf_map_lookup_elem(&enilb_slot4_v2, &k);
	if (!slot) {
		count_drop(DROP_SLOT_MISSING);
		return -1;
	}
	id = slot->backend_id;
	b = bpf_map_lookup_elem(&enilb_be4_v2, &id);
	if (!b) {
		count_drop(DROP_BACKEND_MISSING);
		return -1;
	}
	*be = *b;
	if (be->svc_id != svc->svc_id) {
		/* the slot names an id handed to another service meanwhile */
		count_drop(DROP_BACKEND_MISSING);
		return -1;
	}
	*backend_id = id;
	return 0;
}

/* Whether backend_id still names the backend a flow chose: same address, port and service (ids
 * are recycled eventually). Fills be with its copy when it does. */
static __always_inline int backend_unchanged(__u32 backend_id, __be32 addr, __be16 port, __u32 svc_id,
					     struct backend *be)
{
	struct backend *p = bpf_map_lookup_elem(&enilb_be4_v2, &backend_id);

	if (!p)
		return 0;
	*be = *p;
	return be->addr == addr && be->port == port && be->svc_id == svc_id;
}

/* The backend of a new flow from client: its affine backend, else a random active one; the
 * choice is remembered for affinity. 0 with be/backend_id filled, or -1 (counted). */
static __always_inline int select_backend(const struct svc_value *svc, __be32 client, __u64 now,
					  struct backend *be, __u32 *backend_id)
{
	if (affine_backend(svc, client, now, be, backend_id) && random_backend(svc, be, backend_id))
		return -1;
	remember_affinity(svc, client, now, *backend_id);
	return 0;
}

#endif
