/* drops.bpf.c: count_drop(), linked into every program (no attach point of its own). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "maps.h"

/* A global function rather than an inline one: only drop paths call it, and its signature is
 * what puts enum drop_reason into the object's BTF, against which user space checks its mirror
 * (Maps.DropReason). The map's key stays __u32: the kernel wants an integer key for arrays. */
int count_drop(enum drop_reason reason)
{
	__u32 key = reason;
	__u64 *n = bpf_map_lookup_elem(&enilb_drop4_v2, &key);

	if (n)
		*n += 1;
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
