package io.enilb.bpf;

import java.nio.ByteBuffer;
import java.util.List;

/**
 * The Java side of {@code bpf/include/structs.h}: one record per C struct, each with the codec
 * that lays it out. Addresses are {@link Ipv4} ints and ports plain ints; the codecs put them
 * in network order where the C field is {@code __be}.
 */
public final class Structs {
    private Structs() {
    }

    /** {@code struct svc_key}: a frontend, ClusterIP:port/protocol. */
    public record SvcKey(int addr, int port, int proto) {
        public static final StructCodec<SvcKey> CODEC = new StructCodec<>("svc_key", 8, List.of(
                new StructCodec.Field("addr", 0, 4), new StructCodec.Field("port", 4, 2),
                new StructCodec.Field("proto", 6, 1), new StructCodec.Field("pad", 7, 1))) {
            @Override
            protected void write(SvcKey v, ByteBuffer b, int at) {
                putBe32(b, at, v.addr);
                putBe16(b, at + 4, v.port);
                b.put(at + 6, (byte) v.proto);
                b.put(at + 7, (byte) 0);
            }

            @Override
            protected SvcKey read(ByteBuffer b, int at) {
                return new SvcKey(getBe32(b, at), getBe16(b, at + 4), Byte.toUnsignedInt(b.get(at + 6)));
            }
        };

        @Override
        public String toString() {
            return Ipv4.format(addr) + ":" + port + "/" + (proto == 6 ? "tcp" : proto == 17 ? "udp" : proto);
        }
    }

    /** {@code struct svc_value}: the frontend's service id, active slot count and affinity timeout. */
    public record SvcValue(int svcId, int active, int affinityTimeout, int flags) {
        public static final StructCodec<SvcValue> CODEC = new StructCodec<>("svc_value", 16, List.of(
                new StructCodec.Field("svc_id", 0, 4), new StructCodec.Field("active", 4, 4),
                new StructCodec.Field("affinity_timeout", 8, 4), new StructCodec.Field("flags", 12, 4))) {
            @Override
            protected void write(SvcValue v, ByteBuffer b, int at) {
                b.putInt(at, v.svcId).putInt(at + 4, v.active).putInt(at + 8, v.affinityTimeout).putInt(at + 12, v.flags);
            }

            @Override
            protected SvcValue read(ByteBuffer b, int at) {
                return new SvcValue(b.getInt(at), b.getInt(at + 4), b.getInt(at + 8), b.getInt(at + 12));
            }
        };
    }

    /** {@code struct slot_key}: slot n of a service's active backends. */
    public record SlotKey(int svcId, int slot) {
        public static final StructCodec<SlotKey> CODEC = new StructCodec<>("slot_key", 8, List.of(
                new StructCodec.Field("svc_id", 0, 4), new StructCodec.Field("slot", 4, 4))) {
            @Override
            protected void write(SlotKey v, ByteBuffer b, int at) {
                b.putInt(at, v.svcId).putInt(at + 4, v.slot);
            }

            @Override
            protected SlotKey read(ByteBuffer b, int at) {
                return new SlotKey(b.getInt(at), b.getInt(at + 4));
            }
        };
    }

    /** {@code struct slot_value}: the backend in a slot. */
    public record SlotValue(int backendId) {
        public static final StructCodec<SlotValue> CODEC = new StructCodec<>("slot_value", 4, List.of(
                new StructCodec.Field("backend_id", 0, 4))) {
            @Override
            protected void write(SlotValue v, ByteBuffer b, int at) {
                b.putInt(at, v.backendId);
            }

            @Override
            protected SlotValue read(ByteBuffer b, int at) {
                return new SlotValue(b.getInt(at));
            }
        };
    }

    /** {@code struct backend}: one endpoint of one frontend. */
    public record BackendEntry(int addr, int port, int flags) {
        /** BACKEND_F_TERMINATING: keeps established flows, takes no new ones. */
        public static final int TERMINATING = 0x1;

        public static final StructCodec<BackendEntry> CODEC = new StructCodec<>("backend", 8, List.of(
                new StructCodec.Field("addr", 0, 4), new StructCodec.Field("port", 4, 2),
                new StructCodec.Field("flags", 6, 1), new StructCodec.Field("pad", 7, 1))) {
            @Override
            protected void write(BackendEntry v, ByteBuffer b, int at) {
                putBe32(b, at, v.addr);
                putBe16(b, at + 4, v.port);
                b.put(at + 6, (byte) v.flags);
                b.put(at + 7, (byte) 0);
            }

            @Override
            protected BackendEntry read(ByteBuffer b, int at) {
                return new BackendEntry(getBe32(b, at), getBe16(b, at + 4), Byte.toUnsignedInt(b.get(at + 6)));
            }
        };

        public boolean terminating() {
            return (flags & TERMINATING) != 0;
        }

        @Override
        public String toString() {
            return Ipv4.format(addr) + ":" + port + (terminating() ? " (terminating)" : "");
        }
    }

    /** {@code struct revnat_value}: what replies of a service are translated back to. */
    public record RevNatValue(int addr, int port) {
        public static final StructCodec<RevNatValue> CODEC = new StructCodec<>("revnat_value", 8, List.of(
                new StructCodec.Field("addr", 0, 4), new StructCodec.Field("port", 4, 2),
                new StructCodec.Field("pad", 6, 2))) {
            @Override
            protected void write(RevNatValue v, ByteBuffer b, int at) {
                putBe32(b, at, v.addr);
                putBe16(b, at + 4, v.port);
                b.putShort(at + 6, (short) 0);
            }

            @Override
            protected RevNatValue read(ByteBuffer b, int at) {
                return new RevNatValue(getBe32(b, at), getBe16(b, at + 4));
            }
        };
    }

    /** {@code struct ct_key}: a flow as one direction sees it. */
    public record CtKey(int saddr, int daddr, int sport, int dport, int proto, int dir) {
        public static final int ORIGINAL = 0;
        public static final int REPLY = 1;

        public static final StructCodec<CtKey> CODEC = new StructCodec<>("ct_key", 16, List.of(
                new StructCodec.Field("saddr", 0, 4), new StructCodec.Field("daddr", 4, 4),
                new StructCodec.Field("sport", 8, 2), new StructCodec.Field("dport", 10, 2),
                new StructCodec.Field("proto", 12, 1), new StructCodec.Field("dir", 13, 1),
                new StructCodec.Field("pad", 14, 2))) {
            @Override
            protected void write(CtKey v, ByteBuffer b, int at) {
                putBe32(b, at, v.saddr);
                putBe32(b, at + 4, v.daddr);
                putBe16(b, at + 8, v.sport);
                putBe16(b, at + 10, v.dport);
                b.put(at + 12, (byte) v.proto);
                b.put(at + 13, (byte) v.dir);
                b.putShort(at + 14, (short) 0);
            }

            @Override
            protected CtKey read(ByteBuffer b, int at) {
                return new CtKey(getBe32(b, at), getBe32(b, at + 4), getBe16(b, at + 8), getBe16(b, at + 10),
                        Byte.toUnsignedInt(b.get(at + 12)), Byte.toUnsignedInt(b.get(at + 13)));
            }
        };
    }

    /** {@code struct ct_value}: a flow's backend and service. */
    public record CtValue(int backendId, int svcId, int flags) {
        /** CT_F_SELF: the pod reached itself over loopback. */
        public static final int SELF = 0x1;

        public static final StructCodec<CtValue> CODEC = new StructCodec<>("ct_value", 16, List.of(
                new StructCodec.Field("backend_id", 0, 4), new StructCodec.Field("svc_id", 4, 4),
                new StructCodec.Field("flags", 8, 4), new StructCodec.Field("pad", 12, 4))) {
            @Override
            protected void write(CtValue v, ByteBuffer b, int at) {
                b.putInt(at, v.backendId).putInt(at + 4, v.svcId).putInt(at + 8, v.flags).putInt(at + 12, 0);
            }

            @Override
            protected CtValue read(ByteBuffer b, int at) {
                return new CtValue(b.getInt(at), b.getInt(at + 4), b.getInt(at + 8));
            }
        };
    }

    /** {@code struct affinity_key}: one client of one service. */
    public record AffinityKey(int svcId, int client) {
        public static final StructCodec<AffinityKey> CODEC = new StructCodec<>("affinity_key", 8, List.of(
                new StructCodec.Field("svc_id", 0, 4), new StructCodec.Field("client", 4, 4))) {
            @Override
            protected void write(AffinityKey v, ByteBuffer b, int at) {
                b.putInt(at, v.svcId);
                putBe32(b, at + 4, v.client);
            }

            @Override
            protected AffinityKey read(ByteBuffer b, int at) {
                return new AffinityKey(b.getInt(at), getBe32(b, at + 4));
            }
        };
    }

    /** {@code struct affinity_value}: the client's last backend and when it was chosen. */
    public record AffinityValue(long lastUsedNs, int backendId) {
        public static final StructCodec<AffinityValue> CODEC = new StructCodec<>("affinity_value", 16, List.of(
                new StructCodec.Field("last_used_ns", 0, 8), new StructCodec.Field("backend_id", 8, 4),
                new StructCodec.Field("pad", 12, 4))) {
            @Override
            protected void write(AffinityValue v, ByteBuffer b, int at) {
                b.putLong(at, v.lastUsedNs).putInt(at + 8, v.backendId).putInt(at + 12, 0);
            }

            @Override
            protected AffinityValue read(ByteBuffer b, int at) {
                return new AffinityValue(b.getLong(at), b.getInt(at + 8));
            }
        };
    }

    /** {@code struct svc_stats}: one CPU's traffic of one service. */
    public record SvcStats(long packets, long bytes, long newFlows) {
        public static final SvcStats ZERO = new SvcStats(0, 0, 0);

        public static final StructCodec<SvcStats> CODEC = new StructCodec<>("svc_stats", 24, List.of(
                new StructCodec.Field("packets", 0, 8), new StructCodec.Field("bytes", 8, 8),
                new StructCodec.Field("new_flows", 16, 8))) {
            @Override
            protected void write(SvcStats v, ByteBuffer b, int at) {
                b.putLong(at, v.packets).putLong(at + 8, v.bytes).putLong(at + 16, v.newFlows);
            }

            @Override
            protected SvcStats read(ByteBuffer b, int at) {
                return new SvcStats(b.getLong(at), b.getLong(at + 8), b.getLong(at + 16));
            }
        };

        public SvcStats plus(SvcStats o) {
            return new SvcStats(packets + o.packets, bytes + o.bytes, newFlows + o.newFlows);
        }
    }

    // ---- issue 11: fragments and ClusterIP addresses ----

    /** {@code struct frag_key}: one fragmented datagram in one pod's network namespace. */
    public record FragKey(long netnsCookie, int saddr, int daddr, int id, int proto) {
        public static final StructCodec<FragKey> CODEC = new StructCodec<>("frag_key", 24, List.of(
                new StructCodec.Field("netns_cookie", 0, 8), new StructCodec.Field("saddr", 8, 4),
                new StructCodec.Field("daddr", 12, 4), new StructCodec.Field("id", 16, 2),
                new StructCodec.Field("proto", 18, 1), new StructCodec.Field("pad", 19, 5))) {
            @Override
            protected void write(FragKey v, ByteBuffer b, int at) {
                b.putLong(at, v.netnsCookie);
                putBe32(b, at + 8, v.saddr);
                putBe32(b, at + 12, v.daddr);
                putBe16(b, at + 16, v.id);
                b.put(at + 18, (byte) v.proto);
                for (int i = 19; i < 24; i++) {
                    b.put(at + i, (byte) 0);
                }
            }

            @Override
            protected FragKey read(ByteBuffer b, int at) {
                return new FragKey(b.getLong(at), getBe32(b, at + 8), getBe32(b, at + 12), getBe16(b, at + 16),
                        Byte.toUnsignedInt(b.get(at + 18)));
            }
        };
    }

    /** {@code struct frag_value}: the ports the datagram's first fragment carried. */
    public record FragValue(int sport, int dport) {
        public static final StructCodec<FragValue> CODEC = new StructCodec<>("frag_value", 4, List.of(
                new StructCodec.Field("sport", 0, 2), new StructCodec.Field("dport", 2, 2))) {
            @Override
            protected void write(FragValue v, ByteBuffer b, int at) {
                putBe16(b, at, v.sport);
                putBe16(b, at + 2, v.dport);
            }

            @Override
            protected FragValue read(ByteBuffer b, int at) {
                return new FragValue(getBe16(b, at), getBe16(b, at + 2));
            }
        };
    }

    /** {@code struct vip_key}: a ClusterIP address. */
    public record VipKey(int addr) {
        public static final StructCodec<VipKey> CODEC = new StructCodec<>("vip_key", 4, List.of(
                new StructCodec.Field("addr", 0, 4))) {
            @Override
            protected void write(VipKey v, ByteBuffer b, int at) {
                putBe32(b, at, v.addr);
            }

            @Override
            protected VipKey read(ByteBuffer b, int at) {
                return new VipKey(getBe32(b, at));
            }
        };

        @Override
        public String toString() {
            return Ipv4.format(addr);
        }
    }

    /** {@code struct vip_value}: how many frontends a ClusterIP address has. */
    public record VipValue(int frontends) {
        public static final StructCodec<VipValue> CODEC = new StructCodec<>("vip_value", 4, List.of(
                new StructCodec.Field("frontends", 0, 4))) {
            @Override
            protected void write(VipValue v, ByteBuffer b, int at) {
                b.putInt(at, v.frontends);
            }

            @Override
            protected VipValue read(ByteBuffer b, int at) {
                return new VipValue(b.getInt(at));
            }
        };
    }
}
