package io.enilb.bench;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import io.enilb.bpf.BpfObject;
import io.enilb.bpf.BpfObject.MapNames;
import io.enilb.bpf.BpfProgram;
import io.enilb.bpf.Datapath;
import io.enilb.bpf.FlowEvents;
import io.enilb.bpf.Ipv4;
import io.enilb.bpf.Ipv6;
import io.enilb.bpf.Netns;
import io.enilb.bpf.Structs.BackendEntry;
import io.enilb.bpf.Structs.BackendEntry6;
import io.enilb.bpf.Structs.CtConfig;
import io.enilb.bpf.Structs.FlowConfig;
import io.enilb.bpf.Structs.FlowLimiter;
import io.enilb.bpf.Structs.FrontendPrefix6;
import io.enilb.bpf.Structs.PodKey;
import io.enilb.bpf.Structs.PodKey6;
import io.enilb.bpf.Structs.PodValue;
import io.enilb.bpf.Structs.RevNatValue;
import io.enilb.bpf.Structs.SlotKey;
import io.enilb.bpf.Structs.SlotValue;
import io.enilb.bpf.Structs.SvcKey;
import io.enilb.bpf.Structs.SvcKey6;
import io.enilb.bpf.Structs.SvcValue;

/**
 * ns per packet of enilb_egress through BPF_PROG_TEST_RUN with 1 to 100 000 Services in the
 * maps: a new flow (conntrack miss: source check, selection, two conntrack inserts, DNAT), an
 * established one (conntrack hit, validation, no write), a TCP packet that is not enilb's (to
 * no Service; with the Service CIDR configured, and again without it), and on enilb_ingress the
 * established flow's reply and the reply of a flow that is not enilb's (conntrack miss). The
 * "not enilb's" columns with the CIDR are what the tc programs cost a flow the socket hooks
 * translated: its packets go to the backend itself. Prints a markdown table; a figure, not a test.
 *
 * <p>The established packet goes to a frontend whose backend is its own address and port: the
 * test run repeats the program on one buffer, and a packet DNATed to another address would be
 * no Service packet from the second repetition on (figures before 2026-11-28 measured that). So
 * the column has the lookups and validation of the established path without the rewrite, which
 * costs the same for every flow; the same holds for the reply.
 *
 * <p>Then the cost of flow events on the new-flow path in one run (rounds alternate: events off,
 * on with every event written, on but over the rate), and how many events/s a ring buffer
 * reader ({@link FlowEvents.Reader}, one thread) takes while test runs produce them at full speed.
 *
 * <p>IPv6 rows: the same four paths for IPv6 frontends (the IPv4 programs tail-call the IPv6
 * ones), with as many IPv6 as IPv4 Services in the maps. With {@code -Denilb.bpf.baseline=<object>}
 * (an object built with {@code EXTRA_CFLAGS=-DENILB_NO_FAMILY6}: IPv4 without the IPv6 dispatch,
 * from these sources or an earlier commit's) each IPv4 row is measured on both objects,
 * interleaved in one run.
 *
 * <p>Run: {@code mvn -q -pl integration exec:java -Dexec.mainClass=io.enilb.bench.EgressBench}
 */
public final class EgressBench {
    private static final int[] SERVICE_COUNTS = {1, 10_000, 100_000};
    private static final int NEW_FLOW_SAMPLES = 20_000;
    private static final int REPEAT = 200_000;
    private static final int ROUNDS = 5;
    private static final int SELF_VIP = Ipv4.parse("198.19.255.254");
    private static final Ipv6 VIP6_BASE = Ipv6.parse("2001:db8:19::");
    private static final Ipv6 SELF_VIP6 = Ipv6.parse("2001:db8:19::f:fffe");
    private static final Ipv6 CLIENT6_BASE = Ipv6.parse("2001:db8:18::");

    public static void main(String[] args) {
        Path object = Path.of(System.getProperty("enilb.bpf.object", "bpf/target/bpf/enilb.bpf.o"));
        String baseline = System.getProperty("enilb.bpf.baseline");
        System.out.println("| Services | family (object) | new flow ns/pkt (median) | established ns/pkt (median of "
                + ROUNDS + " x " + REPEAT + ") | not enilb's (TCP) ns/pkt | same, no Service CIDR | ingress reply ns/pkt"
                + " | ingress, not enilb's ns/pkt |");
        System.out.println("|---:|---|---:|---:|---:|---:|---:|---:|");
        for (int n : SERVICE_COUNTS) {
            for (int round = 0; round < (baseline == null ? 1 : 2); round++) {
                // interleaved, so that both objects see the same machine
                measure(object, n, "IPv4 (with IPv6 dispatch)", false);
                if (baseline != null) {
                    measure(Path.of(baseline), n, "IPv4 (baseline: no dispatch)", false);
                }
            }
            measure(object, n, "IPv6", true);
        }
        flowEvents(object);
    }

    private static void measure(Path object, int n, String label, boolean ipv6) {
        Path pins = Path.of("/sys/fs/bpf/enilb-bench-" + UUID.randomUUID().toString().substring(0, 8));
        try (Datapath dp = Datapath.load(object, pins, Map.ofEntries(Map.entry(MapNames.SERVICES, 131_072),
                Map.entry(MapNames.REV_NAT, 131_072), Map.entry(MapNames.SERVICE_STATS, 262_147),
                Map.entry(MapNames.SERVICES6, 131_072), Map.entry(MapNames.REV_NAT6, 131_072),
                Map.entry(MapNames.CONNTRACK, Integer.getInteger("bench.ct", 262_144)),
                Map.entry(MapNames.CONNTRACK6, Integer.getInteger("bench.ct", 262_144))))) {
            BpfProgram egress = dp.program(Datapath.EGRESS);
            BpfProgram ingress = dp.program(Datapath.INGRESS);
            long[] fresh = new long[NEW_FLOW_SAMPLES];
            byte[] established;
            byte[] foreign;
            byte[] reply;
            byte[] foreignReply;
            if (ipv6) {
                fill6(dp, n);
                Ipv6 vip = vip6(n / 2);
                for (int i = 0; i < NEW_FLOW_SAMPLES; i++) {
                    fresh[i] = egress.testRun(Packets.tcpSyn6(client6(1 + i / 60000), 1024 + i % 60000, vip, 80), 1)
                            .durationNs();
                }
                egress.testRun(Packets.tcpSyn6(client6(1), 1024, SELF_VIP6, 80), 1);
                established = ack6(Packets.tcpSyn6(client6(1), 1024, SELF_VIP6, 80));
                foreign = ack6(Packets.tcpSyn6(client6(1), 1024, Ipv6.parse("2001:db8:18::1:1"), 80));
                reply = ack6(Packets.tcpSyn6(SELF_VIP6, 80, client6(1), 1024));
                foreignReply = ack6(Packets.tcpSyn6(Ipv6.parse("2001:db8:18::1:1"), 80, client6(1), 1024));
            } else {
                fill(dp, n);
                int vip = Ipv4.parse("198.19.0.0") + n / 2;
                for (int i = 0; i < NEW_FLOW_SAMPLES; i++) {
                    fresh[i] = egress.testRun(syn(vip, 1024 + i % 60000, 1 + i / 60000), 1).durationNs();
                }
                egress.testRun(syn(SELF_VIP, 1024, 1), 1);
                established = ack(syn(SELF_VIP, 1024, 1));
                foreign = ack(syn(Ipv4.parse("198.18.1.1"), 1024, 1));
                // the reply of the established flow, from the frontend's own address: unchanged by reverse NAT
                reply = ack(Packets.tcpSyn(SELF_VIP, 80, Ipv4.parse("198.18.0.1"), 1024));
                foreignReply = ack(Packets.tcpSyn(Ipv4.parse("198.18.1.1"), 80, Ipv4.parse("198.18.0.1"), 1024));
            }
            long foreignInCidr = repeated(egress, foreign);
            // the same packet without the Service CIDR (service-cidr / service-cidr6 unset): the
            // conntrack lookup that an established flow of a deleted Service needs is not skipped
            if (ipv6) {
                dp.maps().configure6(FrontendPrefix6.ANYWHERE);
            } else {
                dp.maps().configure(CtConfig.DEFAULTS);
            }
            long foreignAnywhere = repeated(egress, foreign);
            System.out.printf("| %,d | %s | %d | %d | %d | %d | %d | %d |%n", n, label, median(fresh),
                    repeated(egress, established), foreignInCidr, foreignAnywhere, repeated(ingress, reply),
                    repeated(ingress, foreignReply));
        } finally {
            BpfObject.unpinAll(pins);
        }
    }

    private static final int EVENT_SAMPLES = 2_000;
    private static final long CONSUMER_NS = 3_000_000_000L;

    private static void flowEvents(Path object) {
        Path pins = Path.of("/sys/fs/bpf/enilb-bench-" + UUID.randomUUID().toString().substring(0, 8));
        try (Datapath dp = Datapath.load(object, pins, Map.of(MapNames.SERVICES, 131_072, MapNames.REV_NAT, 131_072,
                MapNames.SERVICE_STATS, 131_073, MapNames.CONNTRACK, 262_144))) {
            fill(dp, 1_000);
            int vip = Ipv4.parse("198.19.0.0") + 500;
            BpfProgram egress = dp.program(Datapath.EGRESS);
            FlowEvents events = dp.flowEvents();
            String[] names = {"off", "on, every event written", "on, all over the rate (1/s)"};
            FlowConfig[] modes = {FlowConfig.OFF, new FlowConfig(Integer.MAX_VALUE, Integer.MAX_VALUE / 2),
                    new FlowConfig(1, 1)};
            long[][] samples = new long[modes.length][ROUNDS * EVENT_SAMPLES];
            int sport = 1024;
            try (FlowEvents.Reader reader = events.reader(e -> { })) {
                for (int r = 0; r < ROUNDS; r++) {
                    for (int m = 0; m < modes.length; m++) {
                        events.configure(modes[m]);
                        for (int i = 0; i < EVENT_SAMPLES; i++) {
                            samples[m][r * EVENT_SAMPLES + i] = egress.testRun(syn(vip, sport++, 1), 1).durationNs();
                        }
                        while (reader.poll(0) > 0) {
                            // the ring holds ~4 600 events: empty it between batches
                        }
                    }
                }
            }
            System.out.println();
            System.out.println("| flow events (1 000 Services) | new flow ns/pkt (median of " + ROUNDS * EVENT_SAMPLES
                    + ", rounds interleaved) |");
            System.out.println("|---|---:|");
            for (int m = 0; m < modes.length; m++) {
                System.out.printf("| %s | %d |%n", names[m], median(samples[m]));
            }
            consumer(egress, events, vip);
        } finally {
            BpfObject.unpinAll(pins);
        }
    }

    /** A reader thread against test runs producing events as fast as they can (new flows, then refusals). */
    private static void consumer(BpfProgram egress, FlowEvents events, int vip) {
        events.configure(new FlowConfig(Integer.MAX_VALUE, Integer.MAX_VALUE / 2));
        FlowLimiter before = events.counts();
        java.util.concurrent.atomic.AtomicLong read = new java.util.concurrent.atomic.AtomicLong();
        java.util.concurrent.atomic.AtomicBoolean producing = new java.util.concurrent.atomic.AtomicBoolean(true);
        Thread consumer = new Thread(() -> {
            try (FlowEvents.Reader reader = events.reader(e -> read.incrementAndGet())) {
                while (producing.get()) {
                    reader.poll(100);
                }
                while (reader.poll(0) > 0) {
                    // what is left
                }
            }
        }, "bench-flow-reader");
        consumer.start();
        long start = System.nanoTime();
        int n = 0;
        while (System.nanoTime() - start < CONSUMER_NS) {
            egress.testRun(syn(vip, 1024 + n % 60_000, 2 + n / 60_000), 1);
            n++;
        }
        long elapsed = System.nanoTime() - start;
        producing.set(false);
        try {
            consumer.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        FlowLimiter after = events.counts();
        System.out.println();
        System.out.printf("flow event reader: %d events produced in %.1f s (%.0f/s), written %d, lost to a full ring %d,"
                        + " read %d: %.0f events/s%n", n, elapsed / 1e9, n * 1e9 / elapsed,
                after.emitted() - before.emitted(), after.lostFull() - before.lostFull(), read.get(),
                read.get() * 1e9 / elapsed);
    }

    private static Ipv6 vip6(int i) {
        return new Ipv6(VIP6_BASE.hi(), VIP6_BASE.lo() + i);
    }

    private static Ipv6 client6(int host) {
        return new Ipv6(CLIENT6_BASE.hi(), CLIENT6_BASE.lo() + host);
    }

    private static byte[] ack6(byte[] syn) {
        syn[Packets.TCP6_FLAGS] = 0x10;
        return syn;
    }

    /** As {@link #fill} for IPv6: n frontends in 2001:db8:19::/108, service ids after the IPv4 ones' (one id space). */
    private static void fill6(Datapath dp, int n) {
        List<Map.Entry<Integer, BackendEntry6>> backends = new ArrayList<>(n);
        List<Map.Entry<SlotKey, SlotValue>> slots = new ArrayList<>(n);
        List<Map.Entry<SvcKey6, SvcValue>> services = new ArrayList<>(n);
        int ids = 131_073;
        for (int i = 0; i < n; i++) {
            backends.add(Map.entry(i + 1, new BackendEntry6(new Ipv6(CLIENT6_BASE.hi(), 0x10000L + i % 1000), 8080, 0,
                    ids + i)));
            slots.add(Map.entry(new SlotKey(ids + i, 0), new SlotValue(i + 1)));
            services.add(Map.entry(new SvcKey6(vip6(i), 80, 6), new SvcValue(ids + i, 1, 0, 0)));
        }
        List<Map.Entry<PodKey6, PodValue>> clients = new ArrayList<>();
        long cookie = Netns.currentCookie();
        for (int host = 1; host <= 1 + NEW_FLOW_SAMPLES / 60000; host++) {
            clients.add(Map.entry(new PodKey6(cookie, client6(host)), PodValue.PRESENT));
        }
        dp.maps().pods6().putAll(clients);
        dp.maps().configure6(FrontendPrefix6.of(VIP6_BASE, 108));
        backends.add(Map.entry(n + 1, new BackendEntry6(SELF_VIP6, 80, 0, ids + n)));
        slots.add(Map.entry(new SlotKey(ids + n, 0), new SlotValue(n + 1)));
        services.add(Map.entry(new SvcKey6(SELF_VIP6, 80, 6), new SvcValue(ids + n, 1, 0, 0)));
        dp.maps().backends6().putAll(backends);
        dp.maps().slots6().putAll(slots);
        dp.maps().services6().putAll(services);
    }

    private static byte[] ack(byte[] syn) {
        syn[Packets.TCP_FLAGS] = 0x10;
        return syn;
    }

    private static long repeated(BpfProgram program, byte[] packet) {
        long[] rounds = new long[ROUNDS];
        for (int r = 0; r < ROUNDS; r++) {
            rounds[r] = program.testRun(packet, REPEAT).durationNs();
        }
        return median(rounds);
    }

    /** n frontends 198.19.x.y:80/tcp, one backend each, written in batches; the clients own their addresses. */
    private static void fill(Datapath dp, int n) {
        List<Map.Entry<Integer, BackendEntry>> backends = new ArrayList<>(n);
        List<Map.Entry<SlotKey, SlotValue>> slots = new ArrayList<>(n);
        List<Map.Entry<Integer, RevNatValue>> revNat = new ArrayList<>(n);
        List<Map.Entry<SvcKey, SvcValue>> services = new ArrayList<>(n);
        int base = Ipv4.parse("198.19.0.0");
        for (int i = 0; i < n; i++) {
            backends.add(Map.entry(i + 1, new BackendEntry(Ipv4.parse("198.18.1.1") + i % 1000, 8080, 0, i)));
            slots.add(Map.entry(new SlotKey(i, 0), new SlotValue(i + 1)));
            revNat.add(Map.entry(i, new RevNatValue(base + i, 80)));
            services.add(Map.entry(new SvcKey(base + i, 80, 6), new SvcValue(i, 1, 0, 0)));
        }
        List<Map.Entry<PodKey, PodValue>> clients = new ArrayList<>();
        long cookie = Netns.currentCookie();
        for (int host = 1; host <= 1 + NEW_FLOW_SAMPLES / 60000; host++) {
            clients.add(Map.entry(new PodKey(cookie, Ipv4.parse("198.18.0.0") + host), PodValue.PRESENT));
        }
        dp.maps().pods().putAll(clients);
        // the Service CIDR, as the daemon configures it: TCP to other addresses skips conntrack
        dp.maps().configure(CtConfig.DEFAULTS.withFrontendPrefix(Ipv4.parse("198.19.0.0"), 16));
        // the frontend the established packet goes to, translated to itself
        backends.add(Map.entry(n + 1, new BackendEntry(SELF_VIP, 80, 0, n)));
        slots.add(Map.entry(new SlotKey(n, 0), new SlotValue(n + 1)));
        revNat.add(Map.entry(n, new RevNatValue(SELF_VIP, 80)));
        services.add(Map.entry(new SvcKey(SELF_VIP, 80, 6), new SvcValue(n, 1, 0, 0)));
        dp.maps().backends().putAll(backends);
        dp.maps().slots().putAll(slots);
        dp.maps().revNat().putAll(revNat);
        dp.maps().services().putAll(services);
    }

    private static byte[] syn(int vip, int sport, int clientHost) {
        return Packets.tcpSyn(Ipv4.parse("198.18.0.0") + clientHost, sport, vip, 80);
    }

    private static long median(long[] values) {
        long[] s = values.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }

    /** Minimal frames for the benchmark (checksums do not matter to the program's cost). */
    static final class Packets {
        static final int TCP_FLAGS = 14 + 20 + 13;

        static byte[] tcpSyn(int src, int sport, int dst, int dport) {
            ByteBuffer b = ByteBuffer.allocate(14 + 20 + 20);
            b.put(new byte[] {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 10}).putShort((short) 0x0800);
            b.put((byte) 0x45).put((byte) 0).putShort((short) 40).putInt(0).put((byte) 64).put((byte) 6)
                    .putShort((short) 0).putInt(src).putInt(dst);
            b.putShort((short) sport).putShort((short) dport).putInt(1).putInt(0).put((byte) 0x50).put((byte) 0x02)
                    .putShort((short) 65535).putInt(0);
            return b.array();
        }

        static final int TCP6_FLAGS = 14 + 40 + 13;

        static byte[] tcpSyn6(Ipv6 src, int sport, Ipv6 dst, int dport) {
            ByteBuffer b = ByteBuffer.allocate(14 + 40 + 20);
            b.put(new byte[] {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 10}).putShort((short) 0x86dd);
            b.putInt(0x60000000).putShort((short) 20).put((byte) 6).put((byte) 64).put(src.bytes()).put(dst.bytes());
            b.putShort((short) sport).putShort((short) dport).putInt(1).putInt(0).put((byte) 0x50).put((byte) 0x02)
                    .putShort((short) 65535).putInt(0);
            return b.array();
        }
    }
}
