/* sock4.h: the IPv4 addresses and maps sock_family.h works on, for the two instances that translate IPv4 (an IPv4 socket's, and an IPv6 socket's IPv4-mapped address). */
/* No include guard: sock_family.h undefines these at its end, so each instance includes this
 * again, after defining SK_FN, SK_DST_GET, SK_DST_SET and SK_SRC_GET (where the address is in
 * the call and in the socket). */
#define SK_SEL(name) name
#define SK_ADDR __be32
#define SK_ADDR_EQ(a, b) ((a) == (b))
#define SK_ADDR_ZERO(a) ((a) == 0)
#define SK_BACKEND struct backend
#define SK_SVC_KEY struct svc_key
#define SK_SVC_MAP enilb_svc4_v2
#define SK_POD_KEY struct pod_key
#define SK_POD_MAP enilb_pod4_v2
#define SK_SCOPE struct sock_scope
#define SK_SCOPE_MAP enilb_sockscope4_v2
#define SK_NAT struct sock_nat
#define SK_NAT_MAP enilb_socknat4_v2
#define SK_FLOW_KEY struct sock_flow_key
#define SK_FLOW_VALUE struct sock_flow_value
#define SK_FLOW_MAP enilb_sockflow4_v3
#define SK_CT_KEY struct ct_key
#define SK_CT_VALUE struct ct_value
#define SK_EV(name) name
