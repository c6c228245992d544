/* count_packets.bpf.c: a foreign tc filter for tests: counts what reaches it and lets it pass. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

/* 0 -> packets seen */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} counted SEC(".maps");

/* Attached by tests after enilb's filter on the same hook: it only runs when enilb's returns TC_ACT_UNSPEC. */
SEC("tc")
int count_packets(struct __sk_buff *skb)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&counted, &zero);

	if (n)
		__sync_fetch_and_add(n, 1);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
