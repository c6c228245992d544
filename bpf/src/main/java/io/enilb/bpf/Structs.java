package io.enilb.bpf;

import static io.enilb.bpf.StructCodec.be16;
import static io.enilb.bpf.StructCodec.be32;
import static io.enilb.bpf.StructCodec.pad;
import static io.enilb.bpf.StructCodec.struct;
import static io.enilb.bpf.StructCodec.u32;
import static io.enilb.bpf.StructCodec.u64;
import static io.enilb.bpf.StructCodec.u8;

/**
 * The Java side of {@code bpf/include/structs.h}: one record per C struct, each with the codec
 * that declares its fields once. Addresses are {@link Ipv4} ints and ports plain ints; the
 * codecs put them in network order where the C field is {@code __be}.
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

    // ---- issue 11: fragments and ClusterIP addresses ----

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

    // ---- issue 17: Service translation at the socket ----

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

    /** {@code struct sock_flow_value}: what that destination is translated to. */
    public record SockFlowValue(int natAddr, int natPort, int backendId, int svcId) {
        public static final StructCodec<SockFlowValue> CODEC = struct("sock_flow_value", 16,
                v -> new SockFlowValue((int) v[0], (int) v[1], (int) v[2], (int) v[3]),
                be32("nat_addr", 0, SockFlowValue::natAddr), be16("nat_port", 4, SockFlowValue::natPort),
                pad("pad", 6, 2), u32("backend_id", 8, SockFlowValue::backendId), u32("svc_id", 12, SockFlowValue::svcId));
    }
}
