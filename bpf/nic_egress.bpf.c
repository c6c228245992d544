/* nic_egress.bpf.c: tc egress on the pod's own NIC: ClusterIP -> backend (DNAT), conntrack, affinity, self-access, reject, fragments, ICMP errors. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "structs.h"
#include "maps.h"
#include "packet.h"
#include "nat.h"
#include "netns.h"
#include "conntrack.h"
#include "reject.h"
#include "fib.h"
#include "frag.h"
#include "guard.h"
#include "events.h"
#include "family6.h"
#include "select4.h"

#define EV_EVENT struct flow_event
#define EV_CT_KEY struct ct_key
#define EV_CT_VALUE struct ct_value
#define EV_FN(name) name
#include "events_family.h"

/* The egress logic of both families is egress_family.h; select4.h and these make it IPv4 (egress6.bpf.c: IPv6). */
#define EG_TUPLE struct tuple4
#define EG_SVC_KEY struct svc_key
#define EG_POD_KEY struct pod_key
#define EG_CT_KEY struct ct_key
#define EG_CT_VALUE struct ct_value
#define EG_SVC_MAP enilb_svc4_v2
#define EG_POD_MAP enilb_pod4_v2
#define EG_CT(name) ct_##name
#define EG_DNAT(skb, t, ct) nat_rewrite4(skb, t, 1, (ct)->nat_addr, (ct)->nat_port)
#define EG_REJECT(skb, t, reason) reject_port_unreachable(skb, t, reason)
#define EG_FRAG_REMEMBER(skb, t) frag_remember(skb, t)
#define EG_FRONTEND_RANGE(t) ct_frontend_range((t)->daddr)
#define EG_COOKIE(skb) netns_cookie_inline(skb)
#define EG_UNTRANSLATED(skb, t, rc) egress_untranslated(skb, t, rc)
#define EG_CT_CLEAR_PAD(ct)
#define EG_EVENT_REFUSED(k, svc_id, type, reason, now) flow_event_refused(k, svc_id, type, reason, now)
#define EG_EVENT_NEW(k, ct, via, now) flow_event_new(k, ct, via, now)
#include "egress_family.h"

/* For the ingress and loopback programs, which are other objects (see netns.h). */
__u64 pod_netns_cookie(struct __sk_buff *skb)
{
	return netns_cookie_inline(skb);
}

/* Attached at tc egress of the pod's NIC; sees what the pod sends towards the fabric. */
SEC("tc")
int enilb_egress(struct __sk_buff *skb)
{
	struct tuple4 t;
	int rc = parse_flow4(skb, &t);

	if (rc == PARSE_NOT_IPV4)
		return to_family6(skb, FAMILY6_EGRESS);
	return egress_flow(skb, &t, rc);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
