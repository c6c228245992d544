package io.enilb.bpf;

import static io.enilb.bpf.PacketTableTest.BE1;
import static io.enilb.bpf.PacketTableTest.POD;
import static io.enilb.bpf.PacketTableTest.TC_ACT_OK;
import static io.enilb.bpf.PacketTableTest.TC_ACT_UNSPEC;
import static io.enilb.bpf.PacketTableTest.VIP;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.LongStream;

import io.enilb.bpf.Structs.CtConfig;
import io.enilb.bpf.Structs.CtKey;
import io.enilb.bpf.Structs.CtValue;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The conntrack lifecycle against the kernel map: random sequences of client packets, backend
 * replies, passing time and GC sweeps, each checked against a model of what the entries must
 * be (state, remaining lifetime, presence) and what the packet must become. Seeded and
 * reproducible: a failure names its seed and step.
 *
 * <p>Time passes by moving every expiry back (the datapath reads the real clock). Steps are
 * 20 s and every lifetime and 1/8 of it lies 8 s or more away from a multiple of a step, so
 * the real time a sequence takes (well under that, even on a loaded machine) never decides a
 * refresh or an expiry.
 */
@org.junit.jupiter.api.Tag("kernel") // root, BPF and network namespaces: left out by -DexcludedGroups=kernel
class ConntrackModelTest {
    private static final long SEC = 1_000_000_000L;
    private static final int FIN = 0x01;
    private static final int SYN = 0x02;
    private static final int RST = 0x04;
    private static final int ACK = 0x10;
    /** SYN 72 s, established 392 s, closing 88 s, other 232 s: L/8 is 9, 49, 11, 29 s. */
    private static final CtConfig LIFETIMES = CtConfig.lifetimes(72 * SEC, 392 * SEC, 88 * SEC, 232 * SEC);
    private static final int[] CLIENT_FLAGS = {SYN, ACK, ACK, ACK, FIN | ACK, RST};
    private static final int[] BACKEND_FLAGS = {SYN | ACK, ACK, ACK, FIN | ACK, RST | ACK};
    private static final int FLOWS = 6;

    private DatapathFixture dp;

    @BeforeEach
    void load() {
        dp = new DatapathFixture().podOwns(POD);
        dp.maps.configure(LIFETIMES);
        dp.service(1, VIP, 80, Packets.TCP, 0, DatapathFixture.Be.active(BE1, 8080));
        dp.service(2, VIP, 53, Packets.UDP, 0, DatapathFixture.Be.active(BE1, 5353));
    }

    @AfterEach
    void unload() {
        dp.close();
    }

    /** The model of one flow: state and remaining seconds of both entries; absent when null. */
    record Entry(int state, double remaining) {
    }

    static LongStream seeds() {
        return LongStream.of(1, 2, 3, 20261128, Long.getLong("enilb.model.seed", 7));
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void randomSequences(long seed) {
        Random random = new Random(seed);
        Map<Integer, Entry> model = new HashMap<>();
        for (int step = 0; step < 250; step++) {
            String at = "seed " + seed + " step " + step;
            int flow = random.nextInt(FLOWS);
            int what = random.nextInt(10);
            if (what < 5) {
                clientPacket(model, flow, random, at);
            } else if (what < 8) {
                backendPacket(model, flow, random, at);
            } else if (what < 9) {
                int seconds = 20 * (1 + random.nextInt(4));
                age(seconds);
                model.replaceAll((f, e) -> new Entry(e.state, e.remaining - seconds));
            } else {
                dp.datapath.conntrackGc().sweep(System.nanoTime());
                model.values().removeIf(e -> e.remaining < 0);
                assertThat(dp.maps.conntrack().count()).as(at + ": entries after GC").isEqualTo(2L * model.size());
            }
            for (int f = 0; f < FLOWS; f++) {
                check(model.get(f), f, at);
            }
        }
    }

    private static boolean udp(int flow) {
        return flow >= FLOWS - 2;
    }

    private static int sport(int flow) {
        return 41000 + flow;
    }

    private static long lifetime(int state) {
        return switch (state) {
            case CtValue.SYN_SENT -> LIFETIMES.synNs();
            case CtValue.ESTABLISHED -> LIFETIMES.establishedNs();
            case CtValue.CLOSING -> LIFETIMES.closingNs();
            default -> LIFETIMES.otherNs();
        } / SEC;
    }

    /** The model's rule: a new state, or more than 1/8 of the lifetime gone, rewrites both entries. */
    private static Entry afterPacket(Entry e, int state) {
        double lifetime = lifetime(state);
        if (state != e.state || lifetime - e.remaining > lifetime / 8) {
            return new Entry(state, lifetime);
        }
        return e;
    }

    private void clientPacket(Map<Integer, Entry> model, int flow, Random random, String at) {
        byte[] in;
        int flags = 0;
        if (udp(flow)) {
            in = Packets.udp(POD, sport(flow), VIP, 53, "q", false);
        } else {
            flags = CLIENT_FLAGS[random.nextInt(CLIENT_FLAGS.length)];
            in = Packets.tcp(POD, sport(flow), VIP, 80, flags, "");
        }
        BpfProgram.TestRun run = dp.egress().testRun(in, 1);
        assertThat(run.verdict()).as(at + ": client verdict").isEqualTo(TC_ACT_OK);
        assertThat(Packets.daddr(run.packet())).as(at + ": client packet to the backend").isEqualTo(BE1);
        Entry e = model.get(flow);
        if (e == null || e.remaining < 0) {
            int state = udp(flow) ? CtValue.OTHER
                    : (flags & (FIN | RST)) != 0 ? CtValue.CLOSING
                    : flags == SYN ? CtValue.SYN_SENT : CtValue.ESTABLISHED;
            model.put(flow, new Entry(state, lifetime(state)));
        } else {
            int state = e.state;
            if (!udp(flow)) {
                if ((flags & (FIN | RST)) != 0) {
                    state = CtValue.CLOSING;
                } else if (flags == SYN) {
                    state = state == CtValue.CLOSING ? CtValue.SYN_SENT : state;
                } else if (state == CtValue.SYN_SENT) {
                    state = CtValue.ESTABLISHED;
                }
            }
            model.put(flow, afterPacket(e, state));
        }
    }

    private void backendPacket(Map<Integer, Entry> model, int flow, Random random, String at) {
        byte[] in;
        int flags = 0;
        if (udp(flow)) {
            in = Packets.udp(BE1, 5353, POD, sport(flow), "a", false);
        } else {
            flags = BACKEND_FLAGS[random.nextInt(BACKEND_FLAGS.length)];
            in = Packets.tcp(BE1, 8080, POD, sport(flow), flags, "");
        }
        BpfProgram.TestRun run = dp.ingress().testRun(in, 1);
        Entry e = model.get(flow);
        if (e == null || e.remaining < 0) {
            assertThat(run.verdict()).as(at + ": reply of no live flow").isEqualTo(TC_ACT_UNSPEC);
            assertThat(run.packet()).as(at + ": reply of no live flow untouched").isEqualTo(in);
            return;
        }
        assertThat(run.verdict()).as(at + ": reply verdict").isEqualTo(TC_ACT_OK);
        assertThat(Packets.saddr(run.packet())).as(at + ": reply from the ClusterIP").isEqualTo(VIP);
        int state = e.state;
        if (!udp(flow)) {
            state = (flags & (FIN | RST)) != 0 ? CtValue.CLOSING : state == CtValue.SYN_SENT ? CtValue.ESTABLISHED : state;
        }
        model.put(flow, afterPacket(e, state));
    }

    /** Moves every expiry {@code seconds} back: as if that much time had passed. */
    private void age(int seconds) {
        Map<CtKey, CtValue> all = dp.maps.conntrack().entries();
        dp.maps.conntrack().putAll(all.entrySet().stream()
                .map(en -> Map.entry(en.getKey(), en.getValue().withExpiry(en.getValue().expiresNs() - seconds * SEC)))
                .toList());
    }

    private void check(Entry expected, int flow, String at) {
        int proto = udp(flow) ? Packets.UDP : Packets.TCP;
        int vport = udp(flow) ? 53 : 80;
        int bport = udp(flow) ? 5353 : 8080;
        CtKey original = new CtKey(dp.cookie(), Ipv4.parse(POD), Ipv4.parse(VIP), sport(flow), vport, proto, CtKey.ORIGINAL);
        CtKey reply = new CtKey(dp.cookie(), Ipv4.parse(BE1), Ipv4.parse(POD), bport, sport(flow), proto, CtKey.REPLY);
        long now = System.nanoTime();
        for (CtKey key : List.of(original, reply)) {
            var actual = dp.maps.conntrack().get(key);
            if (expected == null) {
                assertThat(actual).as(at + ": flow %d %s absent", flow, key).isEmpty();
                continue;
            }
            assertThat(actual).as(at + ": flow %d %s present", flow, key).isPresent();
            CtValue v = actual.get();
            assertThat(v.state()).as(at + ": state of flow %d %s", flow, key).isEqualTo(expected.state);
            assertThat((v.expiresNs() - now) / (double) SEC).as(at + ": seconds left of flow %d %s", flow, key)
                    .isBetween(expected.remaining - 7, expected.remaining + 0.5);
        }
    }
}
