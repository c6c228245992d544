package io.enilb.bpf;

import static io.enilb.bpf.DatapathFixture.Be.active;
import static io.enilb.bpf.Packets.ACK;
import static io.enilb.bpf.Packets.SYN;
import static io.enilb.bpf.Packets.TCP;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import io.enilb.bpf.Maps.DropReason;
import io.enilb.bpf.Structs.AnyFlowEvent;
import io.enilb.bpf.Structs.FlowConfig;
import io.enilb.bpf.Structs.FlowEvent;
import io.enilb.bpf.Structs.FlowEvent6;
import io.enilb.bpf.Structs.FlowLimiter;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Flow events through the real ring buffer: which packets emit one and with what, that
 * established packets emit none, the per-CPU rate limit and the counts of what was lost.
 * Packets run through BPF_PROG_TEST_RUN; events are read with libbpf's ring_buffer API.
 */
@org.junit.jupiter.api.Tag("kernel") // root, BPF and network namespaces: left out by -DexcludedGroups=kernel
class FlowEventsTest {
    static final String POD = PacketTableTest.POD;
    static final String VIP = PacketTableTest.VIP;
    static final String BE1 = PacketTableTest.BE1;
    static final String EMPTY_VIP = "198.19.0.11";

    private DatapathFixture dp;
    private FlowEvents events;
    private FlowEvents.Reader reader;
    private final List<AnyFlowEvent> received = new ArrayList<>();

    private void load(Map<String, Integer> sizes) {
        dp = (sizes == null ? new DatapathFixture() : new DatapathFixture(sizes)).podOwns(POD);
        events = dp.datapath.flowEvents();
        reader = events.reader(received::add);
    }

    @AfterEach
    void unload() {
        if (reader != null) {
            reader.close();
        }
        if (dp != null) {
            dp.close();
        }
    }

    /** Everything the ring holds now (the programs ran synchronously in test runs). */
    private List<AnyFlowEvent> drain() {
        while (reader.poll(0) > 0) {
            // poll hands at most what is there; loop until the ring is empty
        }
        List<AnyFlowEvent> out = List.copyOf(received);
        received.clear();
        return out;
    }

    @Test
    void offUntilTheDaemonConfiguresARate() {
        load(null);
        dp.service(1, VIP, 80, TCP, 0, active(BE1, 8080));
        dp.egress().testRun(Packets.tcp(POD, 40000, VIP, 80, SYN, ""), 1);
        assertThat(drain()).isEmpty();
        assertThat(events.counts()).isEqualTo(FlowLimiter.ZERO);
        assertThat(events.configured()).isEqualTo(FlowConfig.OFF);
    }

    @Test
    void aNewFlowEmitsOneEventNamingPodServiceAndBackendAndItsLaterPacketsNone() {
        load(null);
        events.configure(new FlowConfig(1000, 100));
        List<Integer> ids = dp.service(7, VIP, 80, TCP, 0, active(BE1, 8080));
        dp.egress().testRun(Packets.tcp(POD, 40000, VIP, 80, SYN, ""), 1);
        dp.egress().testRun(Packets.tcp(POD, 40000, VIP, 80, ACK, "GET /"), 50);

        List<AnyFlowEvent> got = drain();
        assertThat(got).hasSize(1).allMatch(FlowEvent.class::isInstance);
        FlowEvent e = (FlowEvent) got.get(0);
        assertThat(e.type()).isEqualTo(FlowEvent.NEW);
        assertThat(e.via()).isEqualTo(FlowEvent.VIA_RANDOM);
        assertThat(e.netnsCookie()).isEqualTo(dp.cookie());
        assertThat(Ipv4.format(e.saddr())).isEqualTo(POD);
        assertThat(e.sport()).isEqualTo(40000);
        assertThat(Ipv4.format(e.daddr())).isEqualTo(VIP);
        assertThat(e.dport()).isEqualTo(80);
        assertThat(e.proto()).isEqualTo(TCP);
        assertThat(Ipv4.format(e.backendAddr())).isEqualTo(BE1);
        assertThat(e.backendPort()).isEqualTo(8080);
        assertThat(e.svcId()).isEqualTo(7);
        assertThat(e.backendId()).isEqualTo(ids.get(0));
        assertThat(e.tsNs()).isPositive().isLessThanOrEqualTo(System.nanoTime());
        assertThat(events.counts().emitted()).isEqualTo(1);
    }

    @Test
    void aSecondFlowOfAnAffineClientSaysAffinity() {
        load(null);
        events.configure(new FlowConfig(1000, 100));
        dp.service(1, VIP, 80, TCP, 60, active(BE1, 8080), active("198.18.0.22", 8080));
        dp.egress().testRun(Packets.tcp(POD, 40000, VIP, 80, SYN, ""), 1);
        dp.egress().testRun(Packets.tcp(POD, 40001, VIP, 80, SYN, ""), 1);
        assertThat(drain()).extracting(AnyFlowEvent::via).containsExactly(FlowEvent.VIA_RANDOM, FlowEvent.VIA_AFFINITY);
    }

    @Test
    void rejectsAndRefusedFlowsSayWhy() {
        load(Map.of(BpfObject.MapNames.CONNTRACK, 4, BpfObject.MapNames.PODS, 64));
        events.configure(new FlowConfig(1000, 100));
        dp.service(1, VIP, 80, TCP, 0, active(BE1, 8080));
        dp.service(2, EMPTY_VIP, 80, TCP, 0);
        dp.egress().testRun(Packets.tcp(POD, 40000, EMPTY_VIP, 80, SYN, ""), 1);
        dp.egress().testRun(Packets.tcp("198.18.0.99", 40000, VIP, 80, SYN, ""), 1);
        // 4 entries hold two flows (an entry per direction); the third is refused
        for (int port = 41000; port < 41003; port++) {
            dp.egress().testRun(Packets.tcp(POD, port, VIP, 80, SYN, ""), 1);
        }
        List<String> got = drain().stream().map(FlowEventsTest::describe).toList();
        assertThat(got).containsExactly(
                "REJECT NO_BACKEND 198.18.0.10:40000 -> 198.19.0.11 svc 2",
                "DROP SPOOFED 198.18.0.99:40000 -> 198.19.0.10 svc 1",
                "NEW 198.18.0.10:41000 -> 198.19.0.10 svc 1",
                "NEW 198.18.0.10:41001 -> 198.19.0.10 svc 1",
                "DROP CT_FULL 198.18.0.10:41002 -> 198.19.0.10 svc 1");
    }

    /** IPv6 flows emit the same events, with their 16-byte addresses, into the same ring. */
    @Test
    void anIpv6FlowEmitsItsEventWithIpv6AddressesAndItsLaterPacketsNone() {
        load(null);
        dp.podOwns6(POD6);
        events.configure(new FlowConfig(1000, 100));
        List<Integer> ids = dp.service6(9, VIP6, 80, TCP, 0, active(BE6, 8080));
        Map<String, byte[]> f = frames6();
        dp.egress().testRun(f.get(SYN6), 1);
        dp.egress().testRun(f.get(ACK6), 50);

        List<AnyFlowEvent> got = drain();
        assertThat(got).hasSize(1).allMatch(FlowEvent6.class::isInstance);
        FlowEvent6 e = (FlowEvent6) got.get(0);
        assertThat(e.type()).isEqualTo(FlowEvent.NEW);
        assertThat(e.via()).isEqualTo(FlowEvent.VIA_RANDOM);
        assertThat(e.netnsCookie()).isEqualTo(dp.cookie());
        assertThat(e.saddr()).isEqualTo(Ipv6.parse(POD6));
        assertThat(e.client()).isEqualTo(POD6);
        assertThat(e.sport()).isEqualTo(40000);
        assertThat(e.frontend()).isEqualTo(VIP6);
        assertThat(e.dport()).isEqualTo(80);
        assertThat(e.proto()).isEqualTo(TCP);
        assertThat(e.backend()).isEqualTo(BE6);
        assertThat(e.backendPort()).isEqualTo(8080);
        assertThat(e.svcId()).isEqualTo(9);
        assertThat(e.backendId()).isEqualTo(ids.get(0));
        assertThat(e.reason()).isZero();
        assertThat(e.tsNs()).isPositive().isLessThanOrEqualTo(System.nanoTime());
        assertThat(events.counts().emitted()).isEqualTo(1);
    }

    @Test
    void ipv6RejectsAndRefusedFlowsSayWhyBetweenIpv4Events() {
        load(null);
        dp.podOwns6(POD6);
        events.configure(new FlowConfig(1000, 100));
        dp.service(1, VIP, 80, TCP, 0, active(BE1, 8080));
        dp.service6(2, VIP6, 80, TCP, 0, active(BE6, 8080));
        dp.service6(3, EMPTY_VIP6, 80, TCP, 0);
        Map<String, byte[]> f = frames6();
        dp.egress().testRun(f.get(EMPTY_SYN6), 1);
        dp.egress().testRun(Packets.tcp(POD, 40000, VIP, 80, SYN, ""), 1);
        dp.egress().testRun(f.get(SPOOFED_SYN6), 1);
        dp.egress().testRun(f.get(SYN6), 1);
        List<AnyFlowEvent> got = drain();
        assertThat(got.stream().map(FlowEventsTest::describe).toList()).containsExactly(
                "REJECT NO_BACKEND 2001:db8:18::a:40000 -> 2001:db8:19::b svc 3",
                "NEW 198.18.0.10:40000 -> 198.19.0.10 svc 1",
                "DROP SPOOFED 2001:db8:18::99:40000 -> 2001:db8:19::a svc 2",
                "NEW 2001:db8:18::a:40000 -> 2001:db8:19::a svc 2");
        assertThat(got.get(0)).isInstanceOf(FlowEvent6.class);
        assertThat(got.get(0).backend()).isEqualTo("::");
        assertThat(reader.malformed()).isZero();
    }

    static final String POD6 = "2001:db8:18::a";
    static final String BE6 = "2001:db8:18::b1";
    static final String VIP6 = "2001:db8:19::a";
    static final String EMPTY_VIP6 = "2001:db8:19::b";
    static final String SYN6 = "eth(IPv6(src=POD,dst=VIP)/TCP(sport=40000,dport=80,flags='S'))";
    static final String ACK6 = "eth(IPv6(src=POD,dst=VIP)/TCP(sport=40000,dport=80,flags='A')/b'GET /')";
    static final String EMPTY_SYN6 = "eth(IPv6(src=POD,dst=EMPTY)/TCP(sport=40000,dport=80,flags='S'))";
    static final String SPOOFED_SYN6 = "eth(IPv6(src=OTHER,dst=VIP)/TCP(sport=40000,dport=80,flags='S'))";

    private static Map<String, byte[]> frames6() {
        return Scapy.build(List.of(SYN6, ACK6, EMPTY_SYN6, SPOOFED_SYN6),
                Map.of("POD", POD6, "VIP", VIP6, "EMPTY", EMPTY_VIP6, "OTHER", "2001:db8:18::99", "BE1", BE6,
                        "ROUTER", "2001:db8:18::1"));
    }

    private static String describe(AnyFlowEvent e) {
        return typeName(e) + " " + e.client() + ":" + e.sport() + " -> " + e.frontend() + " svc " + e.svcId();
    }

    private static String typeName(AnyFlowEvent e) {
        return switch (e.type()) {
            case FlowEvent.NEW -> "NEW";
            case FlowEvent.REJECT -> "REJECT " + DropReason.values()[e.reason()];
            case FlowEvent.DROP -> "DROP " + DropReason.values()[e.reason()];
            default -> "type " + e.type();
        };
    }

    @Test
    void aStormIsCutToTheRateAndWhatIsCutIsCounted() {
        load(null);
        int burst = 20;
        events.configure(new FlowConfig(1, burst));
        dp.service(1, VIP, 80, TCP, 0, active(BE1, 8080));
        int flows = 2000;
        for (int i = 0; i < flows; i++) {
            dp.egress().testRun(Packets.tcp(POD, 20000 + i, VIP, 80, SYN, ""), 1);
        }
        FlowLimiter counts = events.counts();
        int cpus = Bpf.get().possibleCpus();
        assertThat(counts.emitted() + counts.lostRate()).isEqualTo(flows);
        // each CPU the test thread ran on spent at most its burst (plus one token per second)
        assertThat(counts.emitted()).isGreaterThanOrEqualTo(burst).isLessThanOrEqualTo((long) cpus * (burst + 60));
        assertThat(drain()).hasSize((int) counts.emitted());
        assertThat(dp.maps.stats(1).newFlows()).as("the flows themselves are unaffected").isEqualTo(flows);
    }

    @Test
    void aFasterRateTakesEffectAtOnce() {
        load(null);
        dp.service(1, VIP, 80, TCP, 0, active(BE1, 8080));
        events.configure(new FlowConfig(1, 1));
        for (int i = 0; i < 20; i++) {
            dp.egress().testRun(Packets.tcp(POD, 30000 + i, VIP, 80, SYN, ""), 1);
        }
        events.configure(new FlowConfig(1_000_000, 1_000));
        FlowLimiter before = events.counts();
        for (int i = 0; i < 100; i++) {
            dp.egress().testRun(Packets.tcp(POD, 31000 + i, VIP, 80, SYN, ""), 1);
        }
        assertThat(events.counts().emitted() - before.emitted()).isEqualTo(100);
    }

    @Test
    void aFullRingLosesEventsCountedNotFlows() {
        load(Map.of(BpfObject.MapNames.CONNTRACK, 65536, BpfObject.MapNames.PODS, 64));
        events.configure(new FlowConfig(Integer.MAX_VALUE, Integer.MAX_VALUE / 2));
        dp.service(1, VIP, 80, TCP, 0, active(BE1, 8080));
        int flows = 6000; // the 256 KiB ring holds ~4 600 events of 48 + 8 bytes
        for (int i = 0; i < flows; i++) {
            dp.egress().testRun(Packets.tcp(POD, 1024 + i, VIP, 80, SYN, ""), 1);
        }
        FlowLimiter counts = events.counts();
        assertThat(counts.lostFull()).isPositive();
        assertThat(counts.emitted() + counts.lostFull()).isEqualTo(flows);
        assertThat(drain()).hasSize((int) counts.emitted());
    }

    @Test
    void aRateWithoutBurstIsRefusedAndChangesNothing() {
        load(null);
        assertThatThrownBy(() -> events.configure(new FlowConfig(100, 0)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("burst");
        assertThat(events.configured()).isEqualTo(FlowConfig.OFF);
    }
}
