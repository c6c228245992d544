/* select6.h: the IPv6 backend choice (select_family.h), shared by the tc path (egress6.bpf.c) and the socket path (sock.bpf.c). */
#ifndef ENILB_SELECT6_H
#define ENILB_SELECT6_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "structs.h"
#include "maps.h"
#include "conntrack.h"
#include "packet6.h"

/* sock.bpf.c instantiates both families: the IPv4 instance's names give way to these */
#undef EG_FN
#undef EG_ADDR
#undef EG_ADDR_EQ
#undef EG_BACKEND
#undef EG_AFF_KEY
#undef EG_SLOT_MAP
#undef EG_BE_MAP
#undef EG_AFF_MAP
#define EG_FN(name) name##6
#define EG_ADDR struct in6_addr
#define EG_ADDR_EQ(a, b) addr6_eq(&(a), &(b))
#define EG_BACKEND struct backend6
#define EG_AFF_KEY struct affinity6_key
#define EG_SLOT_MAP enilb_slot6_v2
#define EG_BE_MAP enilb_be6_v2
#define EG_AFF_MAP enilb_aff6_v2
#include "select_family.h"

#endif
