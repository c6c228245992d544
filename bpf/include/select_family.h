/* select_family.h: which backend a new flow goes to (ClientIP affinity, else a random active backend) and whether a flow's backend is still the one it chose; both families, both paths. */
/* No include guard: included once per family after defining EG_FN(name), EG_ADDR (an address
 * value), EG_ADDR_EQ(a, b) (two address lvalues), EG_BACKEND, EG_AFF_KEY, EG_SLOT_MAP, EG_BE_MAP
 * and EG_AFF_MAP. The tc path (egress_family.h, per packet of a new flow) and the socket path
 * (sock.bpf.c, per connect or datagram) both choose here, with the same slots, affinity entries
 * and validation, so a pod gets the same backend whichever path carries its flow. */

/* ClientIP affinity: the client's last backend while it is fresh, still belongs to this
 * service and takes new flows. Returns 0 and fills be/backend_id, or -1. */
static __always_inline int EG_FN(affine_backend)(const struct svc_value *svc, EG_ADDR client, __u64 now,
						 EG_BACKEND *be, __u32 *backend_id)
{
	EG_AFF_KEY k = { .svc_id = svc->svc_id, .client = client };
	struct affinity_value *p;
	struct affinity_value a;
	EG_BACKEND *b;

	if (!svc->affinity_timeout)
		return -1;
	p = bpf_map_lookup_elem(&EG_AFF_MAP, &k);
	if (!p)
		return -1;
	a = *p;
	if (now - a.last_used_ns > svc->affinity_timeout * NSEC_PER_SEC)
		return -1;
	b = bpf_map_lookup_elem(&EG_BE_MAP, &a.backend_id);
	if (!b)
		return -1;
	*be = *b;
	if (be->svc_id != svc->svc_id || (be->flags & BACKEND_F_TERMINATING))
		return -1;
	*backend_id = a.backend_id;
	return 0;
}

static __always_inline void EG_FN(remember_affinity)(const struct svc_value *svc, EG_ADDR client,
						     __u64 now, __u32 backend_id)
{
	EG_AFF_KEY k = { .svc_id = svc->svc_id, .client = client };
	struct affinity_value v = { .last_used_ns = now, .backend_id = backend_id, .pad = 0 };

	if (svc->affinity_timeout)
		bpf_map_update_elem(&EG_AFF_MAP, &k, &v, BPF_ANY);
}

/* A random active backend of the service: 0 and be/backend_id filled, or the drop reason
 * (counted; never DROP_NO_BACKEND, which is 0). */
static __always_inline int EG_FN(random_backend)(const struct svc_value *svc, EG_BACKEND *be, __u32 *backend_id)
{
	struct slot_key k = { .svc_id = svc->svc_id, .slot = bpf_get_prandom_u32() % svc->active };
	struct slot_value *slot;
	EG_BACKEND *b;
	__u32 id;

	slot = bpf_map_lookup_elem(&EG_SLOT_MAP, &k);
	if (!slot) {
		count_drop(DROP_SLOT_MISSING);
		return DROP_SLOT_MISSING;
	}
	id = slot->backend_id;
	b = bpf_map_lookup_elem(&EG_BE_MAP, &id);
	if (!b) {
		count_drop(DROP_BACKEND_MISSING);
		return DROP_BACKEND_MISSING;
	}
	*be = *b;
	if (be->svc_id != svc->svc_id) {
		/* the slot names an id handed to another service meanwhile */
		count_drop(DROP_BACKEND_MISSING);
		return DROP_BACKEND_MISSING;
	}
	*backend_id = id;
	return 0;
}

/* Whether backend_id still names the backend a flow chose: same address, port and service (ids
 * are recycled eventually). Fills be with its copy when it does. */
static __always_inline int EG_FN(backend_unchanged)(__u32 backend_id, EG_ADDR addr, __be16 port, __u32 svc_id,
						    EG_BACKEND *be)
{
	EG_BACKEND *p = bpf_map_lookup_elem(&EG_BE_MAP, &backend_id);

	if (!p)
		return 0;
	*be = *p;
	return EG_ADDR_EQ(be->addr, addr) && be->port == port && be->svc_id == svc_id;
}

/* The backend of a new flow from client: its affine backend, else a random active one; the
 * choice is remembered for affinity. 0 with be/backend_id filled and via saying which
 * (FLOW_VIA_*), or the drop reason (counted). */
static __always_inline int EG_FN(select_backend)(const struct svc_value *svc, EG_ADDR client, __u64 now,
						 EG_BACKEND *be, __u32 *backend_id, __u8 *via)
{
	int reason;

	*via = FLOW_VIA_AFFINITY;
	if (EG_FN(affine_backend)(svc, client, now, be, backend_id)) {
		*via = FLOW_VIA_RANDOM;
		reason = EG_FN(random_backend)(svc, be, backend_id);
		if (reason)
			return reason;
	}
	EG_FN(remember_affinity)(svc, client, now, *backend_id);
	return 0;
}
