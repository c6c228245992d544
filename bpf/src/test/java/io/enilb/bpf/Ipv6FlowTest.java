package io.enilb.bpf;

import static io.enilb.bpf.DatapathFixture.Be.active;
import static io.enilb.bpf.DatapathFixture.Be.terminating;
import static io.enilb.bpf.EveryPacketTableTest.TC_ACT_OK;
import static io.enilb.bpf.Packets.TCP;
import static io.enilb.bpf.Packets.UDP;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import io.enilb.bpf.ConntrackGc.GcResult;
import io.enilb.bpf.Structs.CtConfig;
import io.enilb.bpf.Structs.CtKey;
import io.enilb.bpf.Structs.CtKey6;
import io.enilb.bpf.Structs.CtValue;
import io.enilb.bpf.Structs.CtValue6;
import io.enilb.bpf.Structs.SlotKey;
import io.enilb.bpf.Structs.SlotValue;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * IPv6 flows over several packets through BPF_PROG_TEST_RUN, as the IPv4 conntrack tables check
 * them: TCP states and their lifetimes in both entries, ClientIP affinity, terminating and
 * removed backends (kube-proxy semantics), an expired entry counting as absent, and the GC on
 * the IPv6 table.
 */
@org.junit.jupiter.api.Tag("kernel") // root, BPF and network namespaces: left out by -DexcludedGroups=kernel
class Ipv6FlowTest {
    private static final long SEC = 1_000_000_000L;
    static final String POD = Ipv6PacketTableTest.POD;
    static final String BE1 = Ipv6PacketTableTest.BE1;
    static final String BE2 = "2001:db8:18::b2";
    static final String VIP = Ipv6PacketTableTest.VIP;
    // distinct lifetimes, so that each state's is recognisable in the entries
    static final CtConfig LIFETIMES = CtConfig.lifetimes(11 * SEC, 22 * SEC, 33 * SEC, 44 * SEC);

    private static Map<String, byte[]> frames;
    private DatapathFixture dp;

    static String syn(int sport) {
        return "eth(IPv6(src=POD,dst=VIP)/TCP(sport=" + sport + ",dport=80,flags='S'))";
    }

    static final String ACK = "eth(IPv6(src=POD,dst=VIP)/TCP(sport=40000,dport=80,flags='A'))";
    static final String FIN = "eth(IPv6(src=POD,dst=VIP)/TCP(sport=40000,dport=80,flags='FA'))";
    static final String SYN_ACK = "eth(IPv6(src=BE1,dst=POD)/TCP(sport=8080,dport=40000,flags='SA'))";
    static final String DNS = "eth(IPv6(src=POD,dst=VIP)/UDP(sport=40001,dport=53)/b'q')";

    @BeforeAll
    static void buildFrames() {
        List<String> expressions = new ArrayList<>(List.of(ACK, FIN, SYN_ACK, DNS));
        for (int sport = 40000; sport < 40040; sport++) {
            expressions.add(syn(sport));
        }
        Map<String, String> names = new java.util.HashMap<>(Ipv6PacketTableTest.NAMES);
        names.put("BE2", BE2);
        frames = Scapy.build(expressions, names);
    }

    @BeforeEach
    void load() {
        dp = new DatapathFixture().podOwns6(POD);
        dp.maps.configure(LIFETIMES);
    }

    @AfterEach
    void unload() {
        dp.close();
    }

    /** Sends a frame through a program; returns the IPv6 destination it left with. */
    private Ipv6 send(String program, String frame) {
        BpfProgram.TestRun run = dp.datapath.program(program).testRun(frames.get(frame), 1);
        assertThat(run.verdict()).as("verdict of %s", frame).isEqualTo(TC_ACT_OK);
        return Ipv6.of(Arrays.copyOfRange(run.packet(), 14 + 24, 14 + 40));
    }

    private CtKey6 original(int sport, int dport, int proto) {
        return new CtKey6(dp.cookie(), Ipv6.parse(POD), Ipv6.parse(VIP), sport, dport, proto, CtKey.ORIGINAL);
    }

    private CtKey6 reply(String backend, int bport, int sport, int proto) {
        return new CtKey6(dp.cookie(), Ipv6.parse(backend), Ipv6.parse(POD), bport, sport, proto, CtKey.REPLY);
    }

    /** The state of both entries of the flow, and that each expires within its lifetime from now. */
    private void assertFlow(int state, long lifetimeNs) {
        long now = System.nanoTime();
        CtValue6 o = dp.maps.conntrack6().get(original(40000, 80, TCP)).orElseThrow();
        CtValue6 r = dp.maps.conntrack6().get(reply(BE1, 8080, 40000, TCP)).orElseThrow();
        assertThat(o.state()).as("original state").isEqualTo(state);
        assertThat(r.state()).as("reply state").isEqualTo(state);
        assertThat(o.natAddr()).isEqualTo(Ipv6.parse(BE1));
        assertThat(o.natPort()).isEqualTo(8080);
        assertThat(r.natAddr()).as("the reply entry holds the ClusterIP").isEqualTo(Ipv6.parse(VIP));
        assertThat(r.natPort()).isEqualTo(80);
        assertThat(o.expiresNs()).isEqualTo(r.expiresNs());
        assertThat(o.expiresNs() - now).as("remaining lifetime").isBetween(lifetimeNs - 5 * SEC, lifetimeNs);
    }

    @Test
    void tcpStatesAndLifetimesFollowTheConnectionInBothEntries() {
        dp.service6(1, VIP, 80, TCP, 0, active(BE1, 8080));
        assertThat(send(Datapath.EGRESS, syn(40000))).isEqualTo(Ipv6.parse(BE1));
        assertFlow(CtValue.SYN_SENT, 11 * SEC);
        assertThat(send(Datapath.INGRESS, SYN_ACK)).isEqualTo(Ipv6.parse(POD));
        assertFlow(CtValue.ESTABLISHED, 22 * SEC);
        send(Datapath.EGRESS, ACK);
        assertFlow(CtValue.ESTABLISHED, 22 * SEC);
        send(Datapath.EGRESS, FIN);
        assertFlow(CtValue.CLOSING, 33 * SEC);
        assertThat(dp.maps.stats(1).newFlows()).isEqualTo(1);
        assertThat(dp.maps.stats(1).packets()).isEqualTo(3);
    }

    @Test
    void udpFlowsGetTheOtherLifetime() {
        dp.service6(2, VIP, 53, UDP, 0, active(BE1, 5353));
        send(Datapath.EGRESS, DNS);
        long remaining = dp.maps.conntrack6().get(original(40001, 53, UDP)).orElseThrow().expiresNs() - System.nanoTime();
        assertThat(remaining).isBetween(39 * SEC, 44 * SEC);
    }

    @Test
    void clientIpAffinityKeepsEveryNewFlowOnOneBackendAndRandomUsesBoth() {
        dp.service6(1, VIP, 80, TCP, 0, active(BE1, 8080), active(BE2, 8080));
        Set<Ipv6> random = new HashSet<>();
        for (int sport = 40000; sport < 40040; sport++) {
            random.add(send(Datapath.EGRESS, syn(sport)));
        }
        assertThat(random).as("random choice over 40 flows").containsExactlyInAnyOrder(Ipv6.parse(BE1), Ipv6.parse(BE2));

        dp.close();
        dp = new DatapathFixture().podOwns6(POD);
        dp.service6(1, VIP, 80, TCP, 60, active(BE1, 8080), active(BE2, 8080));
        Set<Ipv6> affine = new HashSet<>();
        for (int sport = 40000; sport < 40040; sport++) {
            affine.add(send(Datapath.EGRESS, syn(sport)));
        }
        assertThat(affine).as("ClientIP affinity over 40 flows").hasSize(1);
        assertThat(dp.maps.affinity6().keys()).hasSize(1);
    }

    @Test
    void aTerminatingBackendKeepsItsFlowAndTakesNoNewOne() {
        List<Integer> ids = dp.service6(1, VIP, 80, TCP, 0, active(BE2, 8080));
        assertThat(send(Datapath.EGRESS, syn(40000))).isEqualTo(Ipv6.parse(BE2));
        // BE2 turns terminating, BE1 joins: the established flow stays, new ones go to BE1
        dp.service6(1, VIP, 80, TCP, 0, active(BE1, 8080));
        dp.maps.backends6().put(ids.get(0), new Structs.BackendEntry6(Ipv6.parse(BE2), 8080,
                Structs.BackendEntry.TERMINATING, 1));
        assertThat(send(Datapath.EGRESS, ACK)).isEqualTo(Ipv6.parse(BE2));
        for (int sport = 40001; sport < 40020; sport++) {
            assertThat(send(Datapath.EGRESS, syn(sport))).isEqualTo(Ipv6.parse(BE1));
        }
        assertThat(send(Datapath.EGRESS, syn(40000))).as("a new SYN on the old tuple chooses again")
                .isEqualTo(Ipv6.parse(BE1));
    }

    @Test
    void aRemovedBackendKeepsEstablishedTcpAndItsUdpMoves() {
        List<Integer> web = dp.service6(1, VIP, 80, TCP, 0, active(BE1, 8080));
        List<Integer> dns = dp.service6(2, VIP, 53, UDP, 0, active(BE1, 5353));
        send(Datapath.EGRESS, syn(40000));
        send(Datapath.INGRESS, SYN_ACK);
        send(Datapath.EGRESS, DNS);
        // BE1 leaves both services (not ready), BE2 takes its slots
        for (int id : List.of(web.get(0), dns.get(0))) {
            dp.maps.backends6().delete(id);
        }
        dp.maps.backends6().put(100, new Structs.BackendEntry6(Ipv6.parse(BE2), 8080, 0, 1));
        dp.maps.backends6().put(101, new Structs.BackendEntry6(Ipv6.parse(BE2), 5353, 0, 2));
        dp.maps.slots6().put(new SlotKey(1, 0), new SlotValue(100));
        dp.maps.slots6().put(new SlotKey(2, 0), new SlotValue(101));
        assertThat(send(Datapath.EGRESS, ACK)).as("established TCP keeps its endpoint").isEqualTo(Ipv6.parse(BE1));
        assertThat(send(Datapath.EGRESS, DNS)).as("UDP moves at its next datagram").isEqualTo(Ipv6.parse(BE2));
    }

    @Test
    void anExpiredEntryCountsAsAbsent() {
        dp.service6(2, VIP, 53, UDP, 0, active(BE1, 5353));
        CtKey6 key = original(40001, 53, UDP);
        // a stale entry pointing at another backend, expired a second ago
        dp.maps.conntrack6().put(key, new CtValue6(System.nanoTime() - SEC, Ipv6.parse(BE2), 5353, CtValue.OTHER, 0, 1, 2));
        assertThat(send(Datapath.EGRESS, DNS)).isEqualTo(Ipv6.parse(BE1));
        assertThat(dp.maps.conntrack6().get(key).orElseThrow().liveAt(System.nanoTime())).isTrue();
    }

    @Test
    void theGcRemovesExpiredIpv6EntriesAndKeepsLiveOnes() {
        long now = System.nanoTime();
        List<Map.Entry<CtKey6, CtValue6>> entries = new ArrayList<>();
        for (int i = 0; i < 2000; i++) {
            CtKey6 k = new CtKey6(42, new Ipv6(0x20010db800180000L, i), Ipv6.parse(VIP), 1000 + i, 80, TCP, CtKey.ORIGINAL);
            entries.add(Map.entry(k, new CtValue6(i % 2 == 0 ? now - SEC : now + 3600 * SEC, Ipv6.parse(BE1), 8080,
                    CtValue.ESTABLISHED, 0, 1, 1)));
        }
        dp.maps.conntrack6().putAll(entries);
        GcResult r = dp.datapath.conntrackGc6().sweep(System.nanoTime());
        assertThat(r.scanned()).isEqualTo(2000);
        assertThat(r.removed()).isEqualTo(1000);
        assertThat(r.live()).isEqualTo(1000);
        assertThat(r.capacity()).isEqualTo(dp.maps.conntrack6().maxEntries());
        assertThat(dp.maps.conntrack6().keys()).allSatisfy(k -> assertThat(k.saddr().lo() % 2).isOne());
    }
}
