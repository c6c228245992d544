package io.enilb.bpf;

import static io.enilb.bpf.StructCodec.be16;
import static io.enilb.bpf.StructCodec.be32;
import static io.enilb.bpf.StructCodec.in6;
import static io.enilb.bpf.StructCodec.pad;
import static io.enilb.bpf.StructCodec.struct;
import static io.enilb.bpf.StructCodec.u32;
import static io.enilb.bpf.StructCodec.u64;
import static io.enilb.bpf.StructCodec.u8;

/**
 * The Java side of {@code bpf/include/structs.h}: one record per C struct, each with the codec
 * that declares its fields once. IPv4 addresses are {@link Ipv4} ints, IPv6 addresses
 * {@link Ipv6} records, ports plain ints; the codecs put them in network order where the C field
 * is {@code __be} or {@code struct in6_addr}. The IPv6 structs (suffix 6) are the IPv4 ones with
 * 16-byte addresses; what holds no address (SvcValue, SlotKey, AffinityValue, PodValue,
 * FragValue, VipValue, SvcStats) is shared by both families.
 */
public final class Structs {
    private Structs() {
    }

    /** {@code struct svc_key}: a frontend, ClusterIP:port/protocol. */
    public record SvcKey(int addr, int port, int proto) {
        public static final StructCodec<SvcKey> CODEC = struct("svc_key", 8,
                v -> new SvcKey((int) v[0], (int) v[1], (int) v[2]),
                be32("addr", 0, SvcKey::addr), be16("port", 4, SvcKey::port), u8("proto", 6, SvcKey::proto),
                pad("pad", 7, 1));

        @Override
        public String toString() {
            return Ipv4.format(addr) + ":" + port + "/" + (proto == 6 ? "tcp" : proto == 17 ? "udp" : proto);
        }
    }

    /** {@code struct svc_value}: the frontend's service id, active slot count and affinity timeout. */
    public record SvcValue(int svcId, int active, int affinityTimeout, int flags) {
        public static final StructCodec<SvcValue> CODEC = struct("svc_value", 16,
                v -> new SvcValue((int) v[0], (int) v[1], (int) v[2], (int) v[3]),
                u32("svc_id", 0, SvcValue::svcId), u32("active", 4, SvcValue::active),
                u32("affinity_timeout", 8, SvcValue::affinityTimeout), u32("flags", 12, SvcValue::flags));
    }

    /** {@code struct slot_key}: slot n of a service's active backends. */
    public record SlotKey(int svcId, int slot) {
        public static final StructCodec<SlotKey> CODEC = struct("slot_key", 8,
                v -> new SlotKey((int) v[0], (int) v[1]),
                u32("svc_id", 0, SlotKey::svcId), u32("slot", 4, SlotKey::slot));
    }

    /** {@code struct slot_value}: the backend in a slot. */
    public record SlotValue(int backendId) {
        public static final StructCodec<SlotValue> CODEC = struct("slot_value", 4,
                v -> new SlotValue((int) v[0]),
                u32("backend_id", 0, SlotValue::backendId));
    }

    /** {@code struct backend}: one endpoint of one frontend, and the service id it was allocated for. */
    public record BackendEntry(int addr, int port, int flags, int svcId) {
        /** BACKEND_F_TERMINATING: keeps established flows, takes no new ones. */
        public static final int TERMINATING = 0x1;

        public static final StructCodec<BackendEntry> CODEC = struct("backend", 12,
                v -> new BackendEntry((int) v[0], (int) v[1], (int) v[2], (int) v[3]),
                be32("addr", 0, BackendEntry::addr), be16("port", 4, BackendEntry::port),
                u8("flags", 6, BackendEntry::flags), pad("pad", 7, 1), u32("svc_id", 8, BackendEntry::svcId));

        public boolean terminating() {
            return (flags & TERMINATING) != 0;
        }

        @Override
        public String toString() {
            return Ipv4.format(addr) + ":" + port + " of service " + svcId + (terminating() ? " (terminating)" : "");
        }
    }

    /** {@code struct revnat_value}: what replies of a service are translated back to. */
    public record RevNatValue(int addr, int port) {
        public static final StructCodec<RevNatValue> CODEC = struct("revnat_value", 8,
                v -> new RevNatValue((int) v[0], (int) v[1]),
                be32("addr", 0, RevNatValue::addr), be16("port", 4, RevNatValue::port), pad("pad", 6, 2));
    }

    /** {@code struct ct_key}: a flow as one direction of one pod (network namespace cookie) sees it. */
    public record CtKey(long netnsCookie, int saddr, int daddr, int sport, int dport, int proto, int dir) {
        public static final int ORIGINAL = 0;
        public static final int REPLY = 1;

        public static final StructCodec<CtKey> CODEC = struct("ct_key", 24,
                v -> new CtKey(v[0], (int) v[1], (int) v[2], (int) v[3], (int) v[4], (int) v[5], (int) v[6]),
                u64("netns_cookie", 0, CtKey::netnsCookie), be32("saddr", 8, CtKey::saddr),
                be32("daddr", 12, CtKey::daddr), be16("sport", 16, CtKey::sport), be16("dport", 18, CtKey::dport),
                u8("proto", 20, CtKey::proto), u8("dir", 21, CtKey::dir), pad("pad", 22, 2));

        @Override
        public String toString() {
            return (dir == ORIGINAL ? "original " : "reply ") + Ipv4.format(saddr) + ":" + sport + " -> "
                    + Ipv4.format(daddr) + ":" + dport + "/" + proto + " netns " + netnsCookie;
        }
    }

    /** {@code struct ct_value}: one direction of a flow: translation, TCP state, expiry, backend and service. */
    public record CtValue(long expiresNs, int natAddr, int natPort, int state, int flags, int backendId, int svcId) {
        /** CT_SYN_SENT .. CT_OTHER. */
        public static final int SYN_SENT = 1;
        public static final int ESTABLISHED = 2;
        public static final int CLOSING = 3;
        public static final int OTHER = 4;
        /** CT_F_SELF: the pod reached itself over loopback. */
        public static final int SELF = 0x1;

        public static final StructCodec<CtValue> CODEC = struct("ct_value", 24,
                v -> new CtValue(v[0], (int) v[1], (int) v[2], (int) v[3], (int) v[4], (int) v[5], (int) v[6]),
                u64("expires_ns", 0, CtValue::expiresNs), be32("nat_addr", 8, CtValue::natAddr),
                be16("nat_port", 12, CtValue::natPort), u8("state", 14, CtValue::state),
                u8("flags", 15, CtValue::flags), u32("backend_id", 16, CtValue::backendId),
                u32("svc_id", 20, CtValue::svcId));

        /** Whether the datapath still follows this entry at {@code nowNs} (System.nanoTime()). */
        public boolean liveAt(long nowNs) {
            return expiresNs - nowNs >= 0;
        }

        public CtValue withExpiry(long ns) {
            return new CtValue(ns, natAddr, natPort, state, flags, backendId, svcId);
        }
    }

    /**
     * {@code struct ct_config}: conntrack lifetimes in ns (0 selects the datapath's compiled
     * default) and the prefix all ClusterIPs lie in ({@code frontendMask} 0: anywhere). A TCP
     * packet to no frontend costs a conntrack lookup (it may belong to a deleted Service's
     * established flow) only when its destination is in that prefix.
     */
    public record CtConfig(long synNs, long establishedNs, long closingNs, long otherNs, int frontendNet,
                           int frontendMask) {
        /** The compiled defaults everywhere, frontends anywhere. */
        public static final CtConfig DEFAULTS = new CtConfig(0, 0, 0, 0, 0, 0);

        public static final StructCodec<CtConfig> CODEC = struct("ct_config", 40,
                v -> new CtConfig(v[0], v[1], v[2], v[3], (int) v[4], (int) v[5]),
                u64("syn_ns", 0, CtConfig::synNs), u64("established_ns", 8, CtConfig::establishedNs),
                u64("closing_ns", 16, CtConfig::closingNs), u64("other_ns", 24, CtConfig::otherNs),
                be32("frontend_net", 32, CtConfig::frontendNet), be32("frontend_mask", 36, CtConfig::frontendMask));

        /** Lifetimes only; frontends anywhere. */
        public static CtConfig lifetimes(long synNs, long establishedNs, long closingNs, long otherNs) {
            return new CtConfig(synNs, establishedNs, closingNs, otherNs, 0, 0);
        }

        /** The same lifetimes with all ClusterIPs in {@code addr/prefixLength} (e.g. the Service CIDR). */
        public CtConfig withFrontendPrefix(int addr, int prefixLength) {
            if (prefixLength < 0 || prefixLength > 32) {
                throw new IllegalArgumentException("prefix length " + prefixLength + " is not 0..32");
            }
            int mask = prefixLength == 0 ? 0 : -1 << (32 - prefixLength);
            return new CtConfig(synNs, establishedNs, closingNs, otherNs, addr & mask, mask);
        }
    }

    /** {@code struct pod_key}: an address a pod owns, in its network namespace. */
    public record PodKey(long netnsCookie, int addr) {
        public static final StructCodec<PodKey> CODEC = struct("pod_key", 16,
                v -> new PodKey(v[0], (int) v[1]),
                u64("netns_cookie", 0, PodKey::netnsCookie), be32("addr", 8, PodKey::addr), pad("pad", 12, 4));

        @Override
        public String toString() {
            return Ipv4.format(addr) + " in netns " + netnsCookie;
        }
    }

    /** {@code struct pod_value}: nothing yet; the key's presence is what counts. */
    public record PodValue(int flags) {
        public static final PodValue PRESENT = new PodValue(0);

        public static final StructCodec<PodValue> CODEC = struct("pod_value", 8,
                v -> new PodValue((int) v[0]),
                u32("flags", 0, PodValue::flags), pad("pad", 4, 4));
    }

    /** {@code struct affinity_key}: one client of one service. */
    public record AffinityKey(int svcId, int client) {
        public static final StructCodec<AffinityKey> CODEC = struct("affinity_key", 8,
                v -> new AffinityKey((int) v[0], (int) v[1]),
                u32("svc_id", 0, AffinityKey::svcId), be32("client", 4, AffinityKey::client));
    }

    /** {@code struct affinity_value}: the client's last backend and when it was chosen. */
    public record AffinityValue(long lastUsedNs, int backendId) {
        public static final StructCodec<AffinityValue> CODEC = struct("affinity_value", 16,
                v -> new AffinityValue(v[0], (int) v[1]),
                u64("last_used_ns", 0, AffinityValue::lastUsedNs), u32("backend_id", 8, AffinityValue::backendId),
                pad("pad", 12, 4));
    }

    /** {@code struct svc_stats}: one CPU's traffic of one service. */
    public record SvcStats(long packets, long bytes, long newFlows) {
        public static final SvcStats ZERO = new SvcStats(0, 0, 0);

        public static final StructCodec<SvcStats> CODEC = struct("svc_stats", 24,
                v -> new SvcStats(v[0], v[1], v[2]),
                u64("packets", 0, SvcStats::packets), u64("bytes", 8, SvcStats::bytes),
                u64("new_flows", 16, SvcStats::newFlows));

        public SvcStats plus(SvcStats o) {
            return new SvcStats(packets + o.packets, bytes + o.bytes, newFlows + o.newFlows);
        }
    }

    // ---- fragments and ClusterIP addresses ----

    /** {@code struct frag_key}: one fragmented datagram in one pod's network namespace. */
    public record FragKey(long netnsCookie, int saddr, int daddr, int id, int proto) {
        public static final StructCodec<FragKey> CODEC = struct("frag_key", 24,
                v -> new FragKey(v[0], (int) v[1], (int) v[2], (int) v[3], (int) v[4]),
                u64("netns_cookie", 0, FragKey::netnsCookie), be32("saddr", 8, FragKey::saddr),
                be32("daddr", 12, FragKey::daddr), be16("id", 16, FragKey::id), u8("proto", 18, FragKey::proto),
                pad("pad", 19, 5));
    }

    /** {@code struct frag_value}: the ports the datagram's first fragment carried. */
    public record FragValue(int sport, int dport) {
        public static final StructCodec<FragValue> CODEC = struct("frag_value", 4,
                v -> new FragValue((int) v[0], (int) v[1]),
                be16("sport", 0, FragValue::sport), be16("dport", 2, FragValue::dport));
    }

    /** {@code struct vip_key}: a ClusterIP address. */
    public record VipKey(int addr) {
        public static final StructCodec<VipKey> CODEC = struct("vip_key", 4, v -> new VipKey((int) v[0]),
                be32("addr", 0, VipKey::addr));

        @Override
        public String toString() {
            return Ipv4.format(addr);
        }
    }

    /** {@code struct vip_value}: how many frontends a ClusterIP address has. */
    public record VipValue(int frontends) {
        public static final StructCodec<VipValue> CODEC = struct("vip_value", 4, v -> new VipValue((int) v[0]),
                u32("frontends", 0, VipValue::frontends));
    }

    // ---- flow events: the section of structs.h after enum drop_reason

    /**
     * A flow event of either family ({@link FlowEvent} or {@link FlowEvent6}); the constants
     * FLOW_EV_* and FLOW_VIA_* are {@link FlowEvent}'s. Addresses as text (IPv6 in RFC 5952 form).
     */
    public sealed interface AnyFlowEvent permits FlowEvent, FlowEvent6 {
        long tsNs();

        long netnsCookie();

        /** The client (the pod's address). */
        String client();

        /** The ClusterIP. */
        String frontend();

        /** FLOW_EV_NEW: the chosen backend's address. */
        String backend();

        int sport();

        int dport();

        int backendPort();

        int proto();

        int type();

        int svcId();

        int backendId();

        int via();

        int reason();
    }

    /**
     * {@code struct flow_event}: one event of the datapath's ring buffer: a new flow and its
     * backend, a reject (no endpoints) or a refused new flow and why ({@link Maps.DropReason} ordinal).
     */
    public record FlowEvent(long tsNs, long netnsCookie, int saddr, int daddr, int sport, int dport, int backendAddr,
                            int backendPort, int proto, int type, int svcId, int backendId, int via, int reason)
            implements AnyFlowEvent {
        /** FLOW_EV_*. */
        public static final int NEW = 1;
        public static final int REJECT = 2;
        public static final int DROP = 3;
        /** FLOW_VIA_*. */
        public static final int VIA_RANDOM = 1;
        public static final int VIA_AFFINITY = 2;

        public static final StructCodec<FlowEvent> CODEC = struct("flow_event", 48,
                v -> new FlowEvent(v[0], v[1], (int) v[2], (int) v[3], (int) v[4], (int) v[5], (int) v[6], (int) v[7],
                        (int) v[8], (int) v[9], (int) v[10], (int) v[11], (int) v[12], (int) v[13]),
                u64("ts_ns", 0, FlowEvent::tsNs), u64("netns_cookie", 8, FlowEvent::netnsCookie),
                be32("saddr", 16, FlowEvent::saddr), be32("daddr", 20, FlowEvent::daddr),
                be16("sport", 24, FlowEvent::sport), be16("dport", 26, FlowEvent::dport),
                be32("backend_addr", 28, FlowEvent::backendAddr), be16("backend_port", 32, FlowEvent::backendPort),
                u8("proto", 34, FlowEvent::proto), u8("type", 35, FlowEvent::type), u32("svc_id", 36, FlowEvent::svcId),
                u32("backend_id", 40, FlowEvent::backendId), u8("via", 44, FlowEvent::via),
                u8("reason", 45, FlowEvent::reason), pad("pad", 46, 2));

        @Override
        public String client() {
            return Ipv4.format(saddr);
        }

        @Override
        public String frontend() {
            return Ipv4.format(daddr);
        }

        @Override
        public String backend() {
            return Ipv4.format(backendAddr);
        }
    }

    /** {@code struct flow_config}: events per second and burst per CPU; zero rate: no events. */
    public record FlowConfig(int rate, int burst) {
        public static final FlowConfig OFF = new FlowConfig(0, 0);

        public static final StructCodec<FlowConfig> CODEC = struct("flow_config", 8,
                v -> new FlowConfig((int) v[0], (int) v[1]),
                u32("rate", 0, FlowConfig::rate), u32("burst", 4, FlowConfig::burst));
    }

    /** {@code struct flow_limiter}: one CPU's limiter state, and the events it emitted and lost. */
    public record FlowLimiter(long nextNs, long emitted, long lostRate, long lostFull) {
        public static final FlowLimiter ZERO = new FlowLimiter(0, 0, 0, 0);

        public static final StructCodec<FlowLimiter> CODEC = struct("flow_limiter", 32,
                v -> new FlowLimiter(v[0], v[1], v[2], v[3]),
                u64("next_ns", 0, FlowLimiter::nextNs), u64("emitted", 8, FlowLimiter::emitted),
                u64("lost_rate", 16, FlowLimiter::lostRate), u64("lost_full", 24, FlowLimiter::lostFull));

        /** Counts summed over CPUs (next_ns is per CPU and means nothing summed: 0). */
        public FlowLimiter plus(FlowLimiter o) {
            return new FlowLimiter(0, emitted + o.emitted, lostRate + o.lostRate, lostFull + o.lostFull);
        }
    }

    // ---- Service translation at the socket ----

    /** {@code struct sock_scope}: a pod namespace whose sockets are translated, and its first address. */
    public record SockScope(int client) {
        public static final StructCodec<SockScope> CODEC = struct("sock_scope", 8, v -> new SockScope((int) v[0]),
                be32("client", 0, SockScope::client), pad("pad", 4, 4));
    }

    /** {@code struct sock_nat}: the frontend and backend a connected socket was sent to (socket storage). */
    public record SockNat(int frontendAddr, int backendAddr, int frontendPort, int backendPort) {
        public static final StructCodec<SockNat> CODEC = struct("sock_nat", 16,
                v -> new SockNat((int) v[0], (int) v[1], (int) v[2], (int) v[3]),
                be32("frontend_addr", 0, SockNat::frontendAddr), be32("backend_addr", 4, SockNat::backendAddr),
                be16("frontend_port", 8, SockNat::frontendPort), be16("backend_port", 10, SockNat::backendPort),
                pad("pad", 12, 4));
    }

    /** {@code struct sock_flow_key}: one destination of an unconnected UDP socket, one direction. */
    public record SockFlowKey(long sockCookie, int addr, int port, int dir) {
        public static final StructCodec<SockFlowKey> CODEC = struct("sock_flow_key", 16,
                v -> new SockFlowKey(v[0], (int) v[1], (int) v[2], (int) v[3]),
                u64("sock_cookie", 0, SockFlowKey::sockCookie), be32("addr", 8, SockFlowKey::addr),
                be16("port", 12, SockFlowKey::port), u8("dir", 14, SockFlowKey::dir), pad("pad", 15, 1));
    }

    /** {@code struct sock_flow_value}: what that destination is translated to, and when it was last used. */
    public record SockFlowValue(long lastUsedNs, int natAddr, int natPort, int backendId, int svcId) {
        public static final StructCodec<SockFlowValue> CODEC = struct("sock_flow_value", 24,
                v -> new SockFlowValue(v[0], (int) v[1], (int) v[2], (int) v[3], (int) v[4]),
                u64("last_used_ns", 0, SockFlowValue::lastUsedNs), be32("nat_addr", 8, SockFlowValue::natAddr),
                be16("nat_port", 12, SockFlowValue::natPort), pad("pad", 14, 2),
                u32("backend_id", 16, SockFlowValue::backendId), u32("svc_id", 20, SockFlowValue::svcId));
    }

    /** {@code struct sock_scope6}: a pod namespace whose IPv6 sockets are translated, and its first IPv6 address. */
    public record SockScope6(Ipv6 client) {
        public static final StructCodec<SockScope6> CODEC = struct("sock_scope6", 16,
                v -> new SockScope6(new Ipv6(v[0], v[1])), in6("client", 0, SockScope6::client));
    }

    /** {@code struct sock_nat6}: {@link SockNat} of an IPv6 socket. */
    public record SockNat6(Ipv6 frontendAddr, Ipv6 backendAddr, int frontendPort, int backendPort) {
        public static final StructCodec<SockNat6> CODEC = struct("sock_nat6", 40,
                v -> new SockNat6(new Ipv6(v[0], v[1]), new Ipv6(v[2], v[3]), (int) v[4], (int) v[5]),
                in6("frontend_addr", 0, SockNat6::frontendAddr), in6("backend_addr", 16, SockNat6::backendAddr),
                be16("frontend_port", 32, SockNat6::frontendPort), be16("backend_port", 34, SockNat6::backendPort),
                pad("pad", 36, 4));
    }

    /** {@code struct sock_flow6_key}: {@link SockFlowKey} of an IPv6 destination. */
    public record SockFlowKey6(long sockCookie, Ipv6 addr, int port, int dir) {
        public static final StructCodec<SockFlowKey6> CODEC = struct("sock_flow6_key", 32,
                v -> new SockFlowKey6(v[0], new Ipv6(v[1], v[2]), (int) v[3], (int) v[4]),
                u64("sock_cookie", 0, SockFlowKey6::sockCookie), in6("addr", 8, SockFlowKey6::addr),
                be16("port", 24, SockFlowKey6::port), u8("dir", 26, SockFlowKey6::dir), pad("pad", 27, 5));
    }

    /** {@code struct sock_flow6_value}: {@link SockFlowValue} of an IPv6 destination. */
    public record SockFlowValue6(long lastUsedNs, Ipv6 natAddr, int natPort, int backendId, int svcId) {
        public static final StructCodec<SockFlowValue6> CODEC = struct("sock_flow6_value", 40,
                v -> new SockFlowValue6(v[0], new Ipv6(v[1], v[2]), (int) v[3], (int) v[4], (int) v[5]),
                u64("last_used_ns", 0, SockFlowValue6::lastUsedNs), in6("nat_addr", 8, SockFlowValue6::natAddr),
                be16("nat_port", 24, SockFlowValue6::natPort), pad("pad", 26, 2),
                u32("backend_id", 28, SockFlowValue6::backendId), u32("svc_id", 32, SockFlowValue6::svcId),
                pad("pad2", 36, 4));
    }

    // ---- IPv6, the same structs with 16-byte addresses ----

    /** {@code struct svc6_key}: an IPv6 frontend, [ClusterIP]:port/protocol; its value is a {@link SvcValue}. */
    public record SvcKey6(Ipv6 addr, int port, int proto) {
        public static final StructCodec<SvcKey6> CODEC = struct("svc6_key", 20,
                v -> new SvcKey6(new Ipv6(v[0], v[1]), (int) v[2], (int) v[3]),
                in6("addr", 0, SvcKey6::addr), be16("port", 16, SvcKey6::port), u8("proto", 18, SvcKey6::proto),
                pad("pad", 19, 1));

        @Override
        public String toString() {
            return "[" + addr + "]:" + port + "/" + (proto == 6 ? "tcp" : proto == 17 ? "udp" : proto);
        }
    }

    /** {@code struct backend6}: one IPv6 endpoint of one frontend, and the service id it was allocated for. */
    public record BackendEntry6(Ipv6 addr, int port, int flags, int svcId) {
        public static final StructCodec<BackendEntry6> CODEC = struct("backend6", 24,
                v -> new BackendEntry6(new Ipv6(v[0], v[1]), (int) v[2], (int) v[3], (int) v[4]),
                in6("addr", 0, BackendEntry6::addr), be16("port", 16, BackendEntry6::port),
                u8("flags", 18, BackendEntry6::flags), pad("pad", 19, 1), u32("svc_id", 20, BackendEntry6::svcId));

        public boolean terminating() {
            return (flags & BackendEntry.TERMINATING) != 0;
        }

        @Override
        public String toString() {
            return "[" + addr + "]:" + port + " of service " + svcId + (terminating() ? " (terminating)" : "");
        }
    }

    /** {@code struct revnat6_value}: what replies of an IPv6 frontend are translated back to. */
    public record RevNatValue6(Ipv6 addr, int port) {
        public static final StructCodec<RevNatValue6> CODEC = struct("revnat6_value", 20,
                v -> new RevNatValue6(new Ipv6(v[0], v[1]), (int) v[2]),
                in6("addr", 0, RevNatValue6::addr), be16("port", 16, RevNatValue6::port), pad("pad", 18, 2));
    }

    /** {@code struct ct6_key}: an IPv6 flow as one direction of one pod sees it (dir: {@link CtKey#ORIGINAL} / REPLY). */
    public record CtKey6(long netnsCookie, Ipv6 saddr, Ipv6 daddr, int sport, int dport, int proto, int dir) {
        public static final StructCodec<CtKey6> CODEC = struct("ct6_key", 48,
                v -> new CtKey6(v[0], new Ipv6(v[1], v[2]), new Ipv6(v[3], v[4]), (int) v[5], (int) v[6], (int) v[7],
                        (int) v[8]),
                u64("netns_cookie", 0, CtKey6::netnsCookie), in6("saddr", 8, CtKey6::saddr),
                in6("daddr", 24, CtKey6::daddr), be16("sport", 40, CtKey6::sport), be16("dport", 42, CtKey6::dport),
                u8("proto", 44, CtKey6::proto), u8("dir", 45, CtKey6::dir), pad("pad", 46, 2));

        @Override
        public String toString() {
            return (dir == CtKey.ORIGINAL ? "original [" : "reply [") + saddr + "]:" + sport + " -> [" + daddr + "]:"
                    + dport + "/" + proto + " netns " + netnsCookie;
        }
    }

    /** {@code struct ct6_value}: one direction of an IPv6 flow; states and flags as {@link CtValue}. */
    public record CtValue6(long expiresNs, Ipv6 natAddr, int natPort, int state, int flags, int backendId,
                           int svcId) {
        public static final StructCodec<CtValue6> CODEC = struct("ct6_value", 40,
                v -> new CtValue6(v[0], new Ipv6(v[1], v[2]), (int) v[3], (int) v[4], (int) v[5], (int) v[6],
                        (int) v[7]),
                u64("expires_ns", 0, CtValue6::expiresNs), in6("nat_addr", 8, CtValue6::natAddr),
                be16("nat_port", 24, CtValue6::natPort), u8("state", 26, CtValue6::state),
                u8("flags", 27, CtValue6::flags), u32("backend_id", 28, CtValue6::backendId),
                u32("svc_id", 32, CtValue6::svcId), pad("pad", 36, 4));

        /** Whether the datapath still follows this entry at {@code nowNs} (System.nanoTime()). */
        public boolean liveAt(long nowNs) {
            return expiresNs - nowNs >= 0;
        }

        public CtValue6 withExpiry(long ns) {
            return new CtValue6(ns, natAddr, natPort, state, flags, backendId, svcId);
        }
    }

    /** {@code struct affinity6_key}: one IPv6 client of one service; its value is an {@link AffinityValue}. */
    public record AffinityKey6(int svcId, Ipv6 client) {
        public static final StructCodec<AffinityKey6> CODEC = struct("affinity6_key", 20,
                v -> new AffinityKey6((int) v[0], new Ipv6(v[1], v[2])),
                u32("svc_id", 0, AffinityKey6::svcId), in6("client", 4, AffinityKey6::client));
    }

    /** {@code struct pod6_key}: an IPv6 address a pod owns, in its network namespace; its value is a {@link PodValue}. */
    public record PodKey6(long netnsCookie, Ipv6 addr) {
        public static final StructCodec<PodKey6> CODEC = struct("pod6_key", 24,
                v -> new PodKey6(v[0], new Ipv6(v[1], v[2])),
                u64("netns_cookie", 0, PodKey6::netnsCookie), in6("addr", 8, PodKey6::addr));

        @Override
        public String toString() {
            return addr + " in netns " + netnsCookie;
        }
    }

    /** {@code struct frag6_key}: one IPv6 datagram in fragments (fragment header identification); value {@link FragValue}. */
    public record FragKey6(long netnsCookie, Ipv6 saddr, Ipv6 daddr, int id, int proto) {
        public static final StructCodec<FragKey6> CODEC = struct("frag6_key", 48,
                v -> new FragKey6(v[0], new Ipv6(v[1], v[2]), new Ipv6(v[3], v[4]), (int) v[5], (int) v[6]),
                u64("netns_cookie", 0, FragKey6::netnsCookie), in6("saddr", 8, FragKey6::saddr),
                in6("daddr", 24, FragKey6::daddr), be32("id", 40, FragKey6::id), u8("proto", 44, FragKey6::proto),
                pad("pad", 45, 3));
    }

    /** {@code struct vip6_key}: an IPv6 ClusterIP address; its value is a {@link VipValue}. */
    public record VipKey6(Ipv6 addr) {
        public static final StructCodec<VipKey6> CODEC = struct("vip6_key", 16, v -> new VipKey6(new Ipv6(v[0], v[1])),
                in6("addr", 0, VipKey6::addr));

        @Override
        public String toString() {
            return addr.toString();
        }
    }

    /**
     * {@code struct frontend_prefix6}: the prefix every IPv6 ClusterIP lies in (the IPv6 Service
     * CIDR); mask :: means anywhere. The conntrack lifetimes of both families are in {@link CtConfig}.
     */
    public record FrontendPrefix6(Ipv6 net, Ipv6 mask) {
        public static final FrontendPrefix6 ANYWHERE = new FrontendPrefix6(new Ipv6(0, 0), new Ipv6(0, 0));

        public static final StructCodec<FrontendPrefix6> CODEC = struct("frontend_prefix6", 32,
                v -> new FrontendPrefix6(new Ipv6(v[0], v[1]), new Ipv6(v[2], v[3])),
                in6("net", 0, FrontendPrefix6::net), in6("mask", 16, FrontendPrefix6::mask));

        /** {@code addr/prefixLength}, e.g. the IPv6 Service CIDR 2001:db8:19::/108. */
        public static FrontendPrefix6 of(Ipv6 addr, int prefixLength) {
            Ipv6 mask = Ipv6.prefixMask(prefixLength);
            return new FrontendPrefix6(addr.and(mask), mask);
        }
    }

    /** {@code struct flow_event6}: {@link FlowEvent} of an IPv6 flow (same ring buffer, told apart by size). */
    public record FlowEvent6(long tsNs, long netnsCookie, Ipv6 saddr, Ipv6 daddr, Ipv6 backendAddr, int sport, int dport,
                             int backendPort, int proto, int type, int svcId, int backendId, int via, int reason)
            implements AnyFlowEvent {
        public static final StructCodec<FlowEvent6> CODEC = struct("flow_event6", 88,
                v -> new FlowEvent6(v[0], v[1], new Ipv6(v[2], v[3]), new Ipv6(v[4], v[5]), new Ipv6(v[6], v[7]),
                        (int) v[8], (int) v[9], (int) v[10], (int) v[11], (int) v[12], (int) v[13], (int) v[14],
                        (int) v[15], (int) v[16]),
                u64("ts_ns", 0, FlowEvent6::tsNs), u64("netns_cookie", 8, FlowEvent6::netnsCookie),
                in6("saddr", 16, FlowEvent6::saddr), in6("daddr", 32, FlowEvent6::daddr),
                in6("backend_addr", 48, FlowEvent6::backendAddr), be16("sport", 64, FlowEvent6::sport),
                be16("dport", 66, FlowEvent6::dport), be16("backend_port", 68, FlowEvent6::backendPort),
                u8("proto", 70, FlowEvent6::proto), u8("type", 71, FlowEvent6::type),
                u32("svc_id", 72, FlowEvent6::svcId), u32("backend_id", 76, FlowEvent6::backendId),
                u8("via", 80, FlowEvent6::via), u8("reason", 81, FlowEvent6::reason), pad("pad", 82, 2),
                pad("pad2", 84, 4));

        @Override
        public String client() {
            return saddr.toString();
        }

        @Override
        public String frontend() {
            return daddr.toString();
        }

        @Override
        public String backend() {
            return backendAddr.toString();
        }
    }
}
