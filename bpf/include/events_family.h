/* events_family.h: the flow events of one address family (a new flow and its backend, a refused flow), written once for both. */
/* No include guard: nic_egress.bpf.c includes it for IPv4 and egress6.bpf.c for IPv6, after
 * events.h and after defining EV_EVENT (struct flow_event / flow_event6), EV_CT_KEY, EV_CT_VALUE
 * (the family's conntrack key and value) and EV_FN(name) for the function names. */

/* Not inlined: one copy for every hook, and its prototype is what puts the event struct into
 * the object's BTF, where user space checks its mirror (io.enilb.bpf.Structs.FlowEvent / FlowEvent6). */
static __noinline void EV_FN(flow_event_write)(struct flow_limiter *lim, EV_EVENT *ev)
{
	ev->ts_ns = bpf_ktime_get_ns();
	if (bpf_ringbuf_output(&enilb_flows4_v2, ev, sizeof(*ev), 0))
		lim->lost_full += 1;
	else
		lim->emitted += 1;
}

/* The flow an event is about: the pod's namespace and the tuple as the pod sent it. */
static __always_inline void EV_FN(flow_event_flow)(EV_EVENT *ev, const EV_CT_KEY *k, __u8 type)
{
	ev->netns_cookie = k->netns_cookie;
	ev->saddr = k->saddr;
	ev->daddr = k->daddr;
	ev->sport = k->sport;
	ev->dport = k->dport;
	ev->proto = k->proto;
	ev->type = type;
}

/* A new flow of the pod (k: its original-direction conntrack key) got the backend in ct. */
static __always_inline void EV_FN(flow_event_new)(const EV_CT_KEY *k, const EV_CT_VALUE *ct, __u8 via, __u64 now)
{
	struct flow_limiter *lim = flow_event_admit(now);
	EV_EVENT ev = {};

	if (!lim)
		return;
	EV_FN(flow_event_flow)(&ev, k, FLOW_EV_NEW);
	ev.backend_addr = ct->nat_addr;
	ev.backend_port = ct->nat_port;
	ev.svc_id = ct->svc_id;
	ev.backend_id = ct->backend_id;
	ev.via = via;
	EV_FN(flow_event_write)(lim, &ev);
}

/* A new flow of the pod refused: FLOW_EV_REJECT (no endpoints) or FLOW_EV_DROP, and why. */
static __always_inline void EV_FN(flow_event_refused)(const EV_CT_KEY *k, __u32 svc_id, __u8 type, __u8 reason,
						      __u64 now)
{
	struct flow_limiter *lim = flow_event_admit(now);
	EV_EVENT ev = {};

	if (!lim)
		return;
	EV_FN(flow_event_flow)(&ev, k, type);
	ev.svc_id = svc_id;
	ev.reason = reason;
	EV_FN(flow_event_write)(lim, &ev);
}

#undef EV_EVENT
#undef EV_CT_KEY
#undef EV_CT_VALUE
#undef EV_FN
