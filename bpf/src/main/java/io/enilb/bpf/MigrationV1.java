package io.enilb.bpf;

import static io.enilb.bpf.StructCodec.be16;
import static io.enilb.bpf.StructCodec.be32;
import static io.enilb.bpf.StructCodec.pad;
import static io.enilb.bpf.StructCodec.struct;
import static io.enilb.bpf.StructCodec.u32;
import static io.enilb.bpf.StructCodec.u8;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.function.IntFunction;

import io.enilb.bpf.Structs.CtConfig;
import io.enilb.bpf.Structs.CtKey;
import io.enilb.bpf.Structs.CtValue;
import io.enilb.bpf.Structs.RevNatValue;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The upgrade from the v1 map set (LRU conntrack without state, expiry or namespace) to v2,
 * without breaking established flows. The daemon runs it in three steps: {@link #migrate}
 * (v2 maps loaded, v1 programs still attached: copy the v1 flows), then re-attach the v2
 * programs, then {@link #removeV1Pins}. Frontends, backends and ids are not copied: the nat-map
 * writer writes them into the v2 maps from the desired state; until then, and for good if
 * their backend went away, migrated established TCP flows keep their translation (they need no
 * frontend), and UDP flows select a backend again at their next datagram.
 */
public final class MigrationV1 {
    private static final Logger LOG = LoggerFactory.getLogger(MigrationV1.class);

    /** Every map of the v1 set, as pinned. */
    public static final List<String> V1_MAPS = List.of("enilb_svc4_v1", "enilb_slot4_v1", "enilb_be4_v1",
            "enilb_rnat4_v1", "enilb_ct4_v1", "enilb_aff4_v1", "enilb_stat4_v1", "enilb_drop4_v1");
    private static final String CONNTRACK = "enilb_ct4_v1";
    private static final String BACKENDS = "enilb_be4_v1";
    private static final String REV_NAT = "enilb_rnat4_v1";
    /** The compiled defaults of conntrack.h, for a CtConfig field left 0. */
    static final long DEFAULT_ESTABLISHED_NS = 6 * 3600 * 1_000_000_000L;
    static final long DEFAULT_OTHER_NS = 60 * 1_000_000_000L;

    /** v1 {@code struct ct_key}. */
    record CtKeyV1(int saddr, int daddr, int sport, int dport, int proto, int dir) {
        static final StructCodec<CtKeyV1> CODEC = struct("ct_key", 16,
                v -> new CtKeyV1((int) v[0], (int) v[1], (int) v[2], (int) v[3], (int) v[4], (int) v[5]),
                be32("saddr", 0, CtKeyV1::saddr), be32("daddr", 4, CtKeyV1::daddr), be16("sport", 8, CtKeyV1::sport),
                be16("dport", 10, CtKeyV1::dport), u8("proto", 12, CtKeyV1::proto), u8("dir", 13, CtKeyV1::dir),
                pad("pad", 14, 2));
    }

    /** v1 {@code struct ct_value}. */
    record CtValueV1(int backendId, int svcId, int flags) {
        static final StructCodec<CtValueV1> CODEC = struct("ct_value", 16,
                v -> new CtValueV1((int) v[0], (int) v[1], (int) v[2]),
                u32("backend_id", 0, CtValueV1::backendId), u32("svc_id", 4, CtValueV1::svcId),
                u32("flags", 8, CtValueV1::flags), pad("pad", 12, 4));
    }

    /** v1 {@code struct backend}. */
    record BackendV1(int addr, int port, int flags) {
        static final StructCodec<BackendV1> CODEC = struct("backend", 8,
                v -> new BackendV1((int) v[0], (int) v[1], (int) v[2]),
                be32("addr", 0, BackendV1::addr), be16("port", 4, BackendV1::port), u8("flags", 6, BackendV1::flags),
                pad("pad", 7, 1));
    }

    /**
     * What a migration did.
     *
     * @param v1Entries      v1 conntrack entries read
     * @param migrated       flows written to v2 (two entries each)
     * @param unknownPod     flows whose client address belongs to no known pod namespace (skipped)
     * @param untranslatable v1 entries whose translation v1 no longer knew (original: backend gone;
     *                       reply: reverse NAT gone); the flow still migrates from its other entry
     */
    public record Result(int v1Entries, int migrated, int unknownPod, int untranslatable) {
    }

    private MigrationV1() {
    }

    /** Whether {@code pinRoot} holds a v1 conntrack pin. */
    public static boolean present(Path pinRoot) {
        return Files.exists(pinRoot.resolve(CONNTRACK));
    }

    /**
     * Copies every v1 flow into {@code v2}'s conntrack as an established flow (TCP) or a UDP one,
     * with the lifetime {@code lifetimes} gives (its zero fields: the datapath's defaults) from
     * {@code nowNs} (System.nanoTime()). The v1 maps are only read.
     *
     * @param cookieOfClient the network namespace cookie of the pod that owns a client address
     *                       (Ipv4 int), empty for an address of no known pod
     * @throws BpfException when the v1 pins cannot be read, or the v2 table is full (a
     *                      BatchException says how many entries were written; run the GC and again)
     */
    public static Result migrate(Path pinRoot, Maps v2, IntFunction<OptionalLong> cookieOfClient, CtConfig lifetimes,
                                 long nowNs) {
        long established = lifetimes.establishedNs() != 0 ? lifetimes.establishedNs() : DEFAULT_ESTABLISHED_NS;
        long other = lifetimes.otherNs() != 0 ? lifetimes.otherNs() : DEFAULT_OTHER_NS;
        try (BpfMap<CtKeyV1, CtValueV1> ct = BpfMap.openPinned(pinRoot.resolve(CONNTRACK), CtKeyV1.CODEC, CtValueV1.CODEC);
             BpfMap<Integer, BackendV1> backends = BpfMap.openPinned(pinRoot.resolve(BACKENDS), StructCodec.U32,
                     BackendV1.CODEC);
             BpfMap<Integer, RevNatValue> revNat = BpfMap.openPinned(pinRoot.resolve(REV_NAT), StructCodec.U32,
                     RevNatValue.CODEC)) {
            // one v2 original entry per flow, from whichever v1 entry survived the LRU
            Map<Flow, CtValue> originals = new LinkedHashMap<>();
            int untranslatable = 0;
            Map<CtKeyV1, CtValueV1> entries = ct.entries();
            for (Map.Entry<CtKeyV1, CtValueV1> e : entries.entrySet()) {
                CtKeyV1 k = e.getKey();
                CtValueV1 v = e.getValue();
                int state = k.proto == 6 ? CtValue.ESTABLISHED : CtValue.OTHER;
                long expires = nowNs + (k.proto == 6 ? established : other);
                if (k.dir == CtKey.ORIGINAL) {
                    Optional<BackendV1> be = backends.get(v.backendId);
                    if (be.isEmpty()) {
                        // its reply entry, if the LRU kept it, still names the backend
                        untranslatable++;
                        continue;
                    }
                    originals.put(new Flow(k.saddr, k.daddr, k.sport, k.dport, k.proto),
                            new CtValue(expires, be.get().addr, be.get().port, state, v.flags, v.backendId, v.svcId));
                } else {
                    // the reply entry names the backend itself; the ClusterIP comes from reverse NAT
                    Optional<RevNatValue> rn = revNat.get(v.svcId);
                    if (rn.isEmpty()) {
                        untranslatable++;
                        continue;
                    }
                    originals.putIfAbsent(new Flow(k.daddr, rn.get().addr(), k.dport, rn.get().port(), k.proto),
                            new CtValue(expires, k.saddr, k.sport, state, v.flags, v.backendId, v.svcId));
                }
            }
            int unknownPod = 0;
            List<Map.Entry<CtKey, CtValue>> writes = new ArrayList<>();
            for (Map.Entry<Flow, CtValue> e : originals.entrySet()) {
                Flow f = e.getKey();
                OptionalLong cookie = cookieOfClient.apply(f.client);
                if (cookie.isEmpty()) {
                    unknownPod++;
                    continue;
                }
                CtValue v = e.getValue();
                // the reply entry first, as the datapath writes them
                writes.add(Map.entry(new CtKey(cookie.getAsLong(), v.natAddr(), f.client, v.natPort(), f.clientPort,
                        f.proto, CtKey.REPLY), new CtValue(v.expiresNs(), f.vip, f.vipPort, v.state(), v.flags(),
                        v.backendId(), v.svcId())));
                writes.add(Map.entry(new CtKey(cookie.getAsLong(), f.client, f.vip, f.clientPort, f.vipPort, f.proto,
                        CtKey.ORIGINAL), v));
            }
            v2.conntrack().putAll(writes);
            Result r = new Result(entries.size(), writes.size() / 2, unknownPod, untranslatable);
            LOG.info("conntrack v1 -> v2 under {}: {} v1 entries, {} flows migrated, {} of unknown pods skipped,"
                    + " {} entries untranslatable", pinRoot, r.v1Entries, r.migrated, r.unknownPod, r.untranslatable);
            return r;
        }
    }

    /** Removes the v1 pins under {@code pinRoot} (after the v2 programs took over). Absent pins are fine. */
    public static void removeV1Pins(Path pinRoot) {
        for (String name : V1_MAPS) {
            try {
                Files.deleteIfExists(pinRoot.resolve(name));
            } catch (IOException e) {
                throw new BpfException("unpin " + pinRoot.resolve(name), e.toString());
            }
        }
    }

    /** A flow as the client sent it. */
    private record Flow(int client, int vip, int clientPort, int vipPort, int proto) {
    }
}
