/* select4.h: the IPv4 backend choice (select_family.h), shared by the tc path (nic_egress.bpf.c) and the socket path (sock.bpf.c). */
#ifndef ENILB_SELECT4_H
#define ENILB_SELECT4_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "structs.h"
#include "maps.h"
#include "conntrack.h"

#define EG_FN(name) name
#define EG_ADDR __be32
#define EG_ADDR_EQ(a, b) ((a) == (b))
#define EG_BACKEND struct backend
#define EG_AFF_KEY struct affinity_key
#define EG_SLOT_MAP enilb_slot4_v2
#define EG_BE_MAP enilb_be4_v2
#define EG_AFF_MAP enilb_aff4_v2
#include "select_family.h"

#endif
