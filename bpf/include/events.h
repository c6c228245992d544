/* events.h: flow events for the daemon (new flow, reject, refused flow) through a ring buffer, rate limited per CPU. */
#ifndef ENILB_EVENTS_H
#define ENILB_EVENTS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "structs.h"

#ifndef FLOW_RING_BYTES
#define FLOW_RING_BYTES (256 * 1024)	/* ~4 600 IPv4 events of 56 bytes (header included), ~2 700 IPv6 ones of 96 */
#endif
#ifndef NSEC_PER_SEC
#define NSEC_PER_SEC 1000000000ULL
#endif

/* Events are emitted only where a flow starts or is refused, never for a packet of an
 * established flow, and only within each CPU's rate: a storm of new flows costs at most the
 * rate's worth of ring buffer writes plus one limiter check per refused event. */

/* the events of both families (struct flow_event, flow_event6), in order per CPU; read by the daemon (io.enilb.bpf.FlowEvents) */
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

/* The functions that fill and write an event (flow_event_new, flow_event_refused and their IPv6
 * twins flow_event_new6, flow_event_refused6) are events_family.h, included once per family. */

#endif
