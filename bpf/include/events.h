/* events.h: flow events for the daemon (new flow, reject, refused flow) through a ring buffer, rate limited per CPU. */
#ifndef ENILB_EVENTS_H
#define ENILB_EVENTS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "structs.h"

#ifndef FLOW_RING_BYTES
#define FLOW_RING_BYTES (256 * 1024)	/* ~4 600 events of 56 bytes (header included) */
#endif
#ifndef NSEC_PER_SEC
#define NSEC_PER_SEC 1000000000ULL
#endif

/* Events are emitted only where a flow starts or is refused, never for a packet of an
 * established flow, and only within each CPU's rate: a storm of new flows costs at most the
 * rate's worth of ring buffer writes plus one limiter check per refused event. */

/* the events, in order per CPU; read by the daemon (io.enilb.bpf.FlowEvents) */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, FLOW_RING_BYTES);
} enilb_flows4_v2 SEC(".maps") __weak;

/* 0 -> events per second and burst per CPU, written by the daemon; zero: no events */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct flow_config);
} enilb_flowcfg4_v2 SEC(".maps") __weak;

/* 0 -> per-CPU limiter state and emitted / lost counts */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct flow_limiter);
} enilb_flowlim4_v2 SEC(".maps") __weak;

/* GCRA (a token bucket kept as one timestamp): an event is admitted while the CPU's
 * theoretical arrival time runs less than burst events ahead of now. Returns the limiter when
 * the event may be written, else NULL (disabled, or counted as lost to the rate).
 * now is the caller's tick-resolution clock (ct_now()): a helper call costs more than the rest
 * of this check (every kernel return pays the SRSO mitigation), and the rate holds over ticks. */
static __always_inline struct flow_limiter *flow_event_admit(__u64 now)
{
	__u32 zero = 0;
	struct flow_config *p = bpf_map_lookup_elem(&enilb_flowcfg4_v2, &zero);
	struct flow_config cfg;
	struct flow_limiter *lim;
	__u64 cost, limit, next;

	if (!p)
		return NULL;
	cfg = *p;
	if (!cfg.rate)
		return NULL;
	lim = bpf_map_lookup_elem(&enilb_flowlim4_v2, &zero);
	if (!lim)
		return NULL;
	cost = NSEC_PER_SEC / cfg.rate;
	limit = (__u64)cfg.burst * cost;
	next = lim->next_ns > now ? lim->next_ns : now;
	/* further ahead than this rate ever gets: left by a slower rate the daemon replaced */
	if (next - now > limit)
		next = now;
	if (next + cost - now > limit) {
		lim->lost_rate += 1;
		return NULL;
	}
	lim->next_ns = next + cost;
	return lim;
}

/* Not inlined: one copy for every hook, and its prototype is what puts struct flow_event into
 * the object's BTF, where user space checks its mirror (io.enilb.bpf.Structs.FlowEvent). */
static __noinline void flow_event_write(struct flow_limiter *lim, struct flow_event *ev)
{
	ev->ts_ns = bpf_ktime_get_ns();
	if (bpf_ringbuf_output(&enilb_flows4_v2, ev, sizeof(*ev), 0))
		lim->lost_full += 1;
	else
		lim->emitted += 1;
}

/* The flow an event is about: the pod's namespace and the tuple as the pod sent it. */
static __always_inline void flow_event_flow(struct flow_event *ev, const struct ct_key *k, __u8 type)
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
static __always_inline void flow_event_new(const struct ct_key *k, const struct ct_value *ct, __u8 via, __u64 now)
{
	struct flow_limiter *lim = flow_event_admit(now);
	struct flow_event ev = {};

	if (!lim)
		return;
	flow_event_flow(&ev, k, FLOW_EV_NEW);
	ev.backend_addr = ct->nat_addr;
	ev.backend_port = ct->nat_port;
	ev.svc_id = ct->svc_id;
	ev.backend_id = ct->backend_id;
	ev.via = via;
	flow_event_write(lim, &ev);
}

/* A new flow of the pod refused: FLOW_EV_REJECT (no endpoints) or FLOW_EV_DROP, and why. */
static __always_inline void flow_event_refused(const struct ct_key *k, __u32 svc_id, __u8 type, __u8 reason,
					       __u64 now)
{
	struct flow_limiter *lim = flow_event_admit(now);
	struct flow_event ev = {};

	if (!lim)
		return;
	flow_event_flow(&ev, k, type);
	ev.svc_id = svc_id;
	ev.reason = reason;
	flow_event_write(lim, &ev);
}

#endif
