package io.enilb.bpf;

import static io.enilb.bpf.DatapathFixture.Be.active;
import static io.enilb.bpf.Packets.TCP;
import static io.enilb.bpf.Packets.UDP;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;

import io.enilb.bpf.Maps.DropReason;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every packet of a translated flow is translated: ICMP errors in both directions,
 * fragments, IP options, and nothing to a ClusterIP leaves untranslated. One packet per row,
 * run in the kernel through BPF_PROG_TEST_RUN; the packets in and the packets expected out are
 * built by scapy (see {@link Scapy}), so each expected checksum (outer IP, ICMP, quoted IP,
 * quoted TCP/UDP, a fragmented datagram's L4 checksum) is scapy's own and the row compares the
 * exact bytes. A quoted L4 checksum that the quote holds is updated incrementally, as netfilter
 * does: it must then equal the checksum of the packet the pod originally sent, which scapy
 * computes over the whole original packet even where the quote is truncated.
 */
@org.junit.jupiter.api.Tag("kernel") // root, BPF and network namespaces: left out by -DexcludedGroups=kernel
class EveryPacketTableTest {
    static final int TC_ACT_UNSPEC = -1;
    static final int TC_ACT_OK = 0;
    static final int TC_ACT_SHOT = 2;
    static final int TC_ACT_REDIRECT = 7;
    static final String POD = PacketTableTest.POD;
    static final String BE1 = PacketTableTest.BE1;
    static final String VIP = PacketTableTest.VIP;
    static final String ROUTER = "198.18.0.1";

    private DatapathFixture dp;

    @BeforeEach
    void load() {
        dp = new DatapathFixture().podOwns(POD);
    }

    @AfterEach
    void unload() {
        dp.close();
    }

    /**
     * @param in      scapy expression of the packet in
     * @param out     scapy expression of the packet expected out; null: the packet in, untouched
     * @param counted the drop reason the row counts once, or null for none
     */
    record Spec(String description, String program, Consumer<DatapathFixture> setup, String in, int verdict, String out,
                DropReason counted) {
    }

    record Row(Spec spec, byte[] in, byte[] out) {
        @Override
        public String toString() {
            return spec.description;
        }
    }

    // flows the rows' packets belong to: the pod's UDP to VIP:53 (backend BE1:5353), TCP to VIP:80 (BE1:8080)
    static final String UDP_OUT = "eth(IP(src=POD,dst=VIP,id=0x1234,flags='DF')/UDP(sport=40001,dport=53)/b'query')";
    static final String TCP_OUT = "eth(IP(src=POD,dst=VIP,id=0x1234,flags='DF')/TCP(sport=40000,dport=80,flags='S',seq=1000))";
    static final Consumer<DatapathFixture> DNS = f -> f.service(2, VIP, 53, UDP, 0, active(BE1, 5353));
    static final Consumer<DatapathFixture> WEB = f -> f.service(1, VIP, 80, TCP, 0, active(BE1, 8080));
    static final Structs.CtConfig CIDR_CONFIG = Structs.CtConfig.lifetimes(60_000_000_000L, 3_600_000_000_000L,
            10_000_000_000L, 60_000_000_000L).withFrontendPrefix(Ipv4.parse("198.19.0.0"), 16);
    static final Consumer<DatapathFixture> SERVICE_CIDR = f -> f.maps.configure(CIDR_CONFIG);
    static final Consumer<DatapathFixture> SELF_DNS = f -> f.service(2, VIP, 53, UDP, 0, active(POD, 5353));

    // the packet the pod sent after DNAT, as an error quotes it, and the packet the pod sent before
    static final String UDP_SENT_BE = "IP(src=POD,dst=BE1,id=0x1234,flags='DF')/UDP(sport=40001,dport=5353)/b'query'";
    static final String UDP_SENT_VIP = "IP(src=POD,dst=VIP,id=0x1234,flags='DF')/UDP(sport=40001,dport=53)/b'query'";
    static final String TCP_SENT_BE = "IP(src=POD,dst=BE1,id=0x99,flags='DF')/TCP(sport=40000,dport=8080,flags='A',seq=1001,ack=7)/(b'x'*1400)";
    static final String TCP_SENT_VIP = "IP(src=POD,dst=VIP,id=0x99,flags='DF')/TCP(sport=40000,dport=80,flags='A',seq=1001,ack=7)/(b'x'*1400)";
    static final String LONG_UDP_BE = "IP(src=POD,dst=BE1,id=0x1234)/UDP(sport=40001,dport=5353)/(b'q'*300)";
    static final String LONG_UDP_VIP = "IP(src=POD,dst=VIP,id=0x1234)/UDP(sport=40001,dport=53)/(b'q'*300)";
    // a reply the pod received (after reverse NAT) and the same reply as the backend sent it
    static final String REPLY_GOT = "IP(src=VIP,dst=POD,id=0x55)/UDP(sport=53,dport=40001)/b'answer'";
    static final String REPLY_SENT = "IP(src=BE1,dst=POD,id=0x55)/UDP(sport=5353,dport=40001)/b'answer'";
    // a datagram in three fragments (32, 32 and 8 bytes of IP payload)
    static final String DGRAM_VIP = "IP(src=POD,dst=VIP,id=0x4242)/UDP(sport=40001,dport=53)/(b'0123456789abcdef'*4)";
    static final String DGRAM_BE = "IP(src=POD,dst=BE1,id=0x4242)/UDP(sport=40001,dport=5353)/(b'0123456789abcdef'*4)";
    static final String RDGRAM_BE = "IP(src=BE1,dst=POD,id=0x77)/UDP(sport=5353,dport=40001)/(b'fedcba9876543210'*4)";
    static final String RDGRAM_VIP = "IP(src=VIP,dst=POD,id=0x77)/UDP(sport=53,dport=40001)/(b'fedcba9876543210'*4)";
    static final String OPTS = "options=[IPOption_Router_Alert()]";

    static Consumer<DatapathFixture> flow(Consumer<DatapathFixture> service, byte[] first) {
        return service.andThen(f -> assertThat(f.egress().testRun(first, 1).verdict()).isNotEqualTo(TC_ACT_SHOT));
    }

    static List<Spec> specs(Map<String, byte[]> sent) {
        Consumer<DatapathFixture> dnsFlow = flow(DNS, sent.get(UDP_OUT));
        Consumer<DatapathFixture> webFlow = flow(WEB, sent.get(TCP_OUT));
        Consumer<DatapathFixture> selfFlow = flow(SELF_DNS, sent.get(UDP_OUT));
        String eg = Datapath.EGRESS;
        String in = Datapath.INGRESS;
        String lo = Datapath.LO_EGRESS;
        List<Spec> s = new ArrayList<>();
        // ICMP errors arriving for the pod about what it sent to a ClusterIP
        s.add(new Spec("UDP port unreachable from the backend: outer source and quoted destination become VIP:53", in,
                dnsFlow, "eth(IP(src=BE1,dst=POD)/ICMP(type=3,code=3)/" + UDP_SENT_BE + ")", TC_ACT_OK,
                "eth(IP(src=VIP,dst=POD)/ICMP(type=3,code=3)/" + UDP_SENT_VIP + ")", null));
        s.add(new Spec("fragmentation needed from a router: the router stays the source, the quoted TCP segment gets VIP:80",
                in, webFlow, "eth(IP(src=ROUTER,dst=POD)/ICMP(type=3,code=4,nexthopmtu=1280)/quote(" + TCP_SENT_BE + ",548))",
                TC_ACT_OK, "eth(IP(src=ROUTER,dst=POD)/ICMP(type=3,code=4,nexthopmtu=1280)/quote(" + TCP_SENT_VIP + ",548))", null));
        s.add(new Spec("time exceeded quoting 8 bytes of UDP: the quoted checksum becomes that of the datagram to VIP:53",
                in, dnsFlow, "eth(IP(src=ROUTER,dst=POD)/ICMP(type=11,code=0)/quote(" + LONG_UDP_BE + ",28))", TC_ACT_OK,
                "eth(IP(src=ROUTER,dst=POD)/ICMP(type=11,code=0)/quote(" + LONG_UDP_VIP + ",28))", null));
        s.add(new Spec("time exceeded quoting 8 bytes of TCP (no checksum quoted): ports and addresses translated", in,
                webFlow, "eth(IP(src=ROUTER,dst=POD)/ICMP(type=11,code=0)/quote(" + TCP_SENT_BE + ",28))", TC_ACT_OK,
                "eth(IP(src=ROUTER,dst=POD)/ICMP(type=11,code=0)/quote(" + TCP_SENT_VIP + ",28))", null));
        s.add(new Spec("parameter problem from the backend about a TCP segment", in, webFlow,
                "eth(IP(src=BE1,dst=POD)/ICMP(type=12,code=0,ptr=20)/quote(" + TCP_SENT_BE + ",60))", TC_ACT_OK,
                "eth(IP(src=VIP,dst=POD)/ICMP(type=12,code=0,ptr=20)/quote(" + TCP_SENT_VIP + ",60))", null));
        s.add(new Spec("a quoted UDP datagram without checksum keeps checksum 0", in, dnsFlow,
                "eth(IP(src=BE1,dst=POD)/ICMP(type=3,code=3)/IP(src=POD,dst=BE1)/UDP(sport=40001,dport=5353,chksum=0)/b'q')",
                TC_ACT_OK, "eth(IP(src=VIP,dst=POD)/ICMP(type=3,code=3)/IP(src=POD,dst=VIP)/UDP(sport=40001,dport=53,chksum=0)/b'q')",
                null));
        s.add(new Spec("a quote with IP options: the quoted ports are found after them", in, dnsFlow,
                "eth(IP(src=BE1,dst=POD)/ICMP(type=3,code=3)/IP(src=POD,dst=BE1," + OPTS + ")/UDP(sport=40001,dport=5353)/b'q')",
                TC_ACT_OK, "eth(IP(src=VIP,dst=POD)/ICMP(type=3,code=3)/IP(src=POD,dst=VIP," + OPTS + ")/UDP(sport=40001,dport=53)/b'q')",
                null));
        s.add(new Spec("an outer header with IP options: the ICMP message is found after them", in, dnsFlow,
                "eth(IP(src=BE1,dst=POD," + OPTS + ")/ICMP(type=3,code=3)/" + UDP_SENT_BE + ")", TC_ACT_OK,
                "eth(IP(src=VIP,dst=POD," + OPTS + ")/ICMP(type=3,code=3)/" + UDP_SENT_VIP + ")", null));
        s.add(new Spec("an error about a flow enilb did not translate is not enilb's: untouched, next filter", in, dnsFlow,
                "eth(IP(src=BE1,dst=POD)/ICMP(type=3,code=3)/IP(src=POD,dst=BE1)/UDP(sport=40002,dport=5353)/b'q')", TC_ACT_UNSPEC,
                null, null));
        s.add(new Spec("an echo reply is not enilb's: untouched, next filter", in, dnsFlow, "eth(IP(src=BE1,dst=POD)/ICMP(type=0)/b'ping')",
                TC_ACT_UNSPEC, null, null));
        s.add(new Spec("self-access on loopback: port unreachable from the pod itself gets VIP:53", lo, selfFlow,
                "eth(IP(src=POD,dst=POD)/ICMP(type=3,code=3)/IP(src=POD,dst=POD,id=0x1234,flags='DF')/UDP(sport=40001,dport=5353)/b'query')",
                TC_ACT_OK, "eth(IP(src=VIP,dst=POD)/ICMP(type=3,code=3)/" + UDP_SENT_VIP + ")", null));
        s.add(new Spec("loopback leaves an error about a flow that is not self-access alone: next filter", lo, dnsFlow,
                "eth(IP(src=BE1,dst=POD)/ICMP(type=3,code=3)/" + UDP_SENT_BE + ")", TC_ACT_UNSPEC, null, null));
        // ICMP errors the pod sends about a reply it received from a ClusterIP
        s.add(new Spec("the pod's port unreachable about a reply goes to the backend, quoting the reply as the backend sent it",
                eg, dnsFlow, "eth(IP(src=POD,dst=VIP)/ICMP(type=3,code=3)/" + REPLY_GOT + ")", TC_ACT_OK,
                "eth(IP(src=POD,dst=BE1)/ICMP(type=3,code=3)/" + REPLY_SENT + ")", null));
        s.add(new Spec("the pod's time exceeded (reassembly) about a reply goes to the backend translated", eg, dnsFlow,
                "eth(IP(src=POD,dst=VIP)/ICMP(type=11,code=1)/quote(" + REPLY_GOT + ",28))", TC_ACT_OK,
                "eth(IP(src=POD,dst=BE1)/ICMP(type=11,code=1)/quote(" + REPLY_SENT + ",28))", null));
        s.add(new Spec("the pod's parameter problem about a reply goes to the backend translated", eg, dnsFlow,
                "eth(IP(src=POD,dst=VIP)/ICMP(type=12,code=0,ptr=8)/" + REPLY_GOT + ")", TC_ACT_OK,
                "eth(IP(src=POD,dst=BE1)/ICMP(type=12,code=0,ptr=8)/" + REPLY_SENT + ")", null));
        s.add(new Spec("the pod's fragmentation needed about a TCP reply goes to the backend translated", eg, webFlow,
                "eth(IP(src=POD,dst=VIP)/ICMP(type=3,code=4,nexthopmtu=1280)/quote(IP(src=VIP,dst=POD,flags='DF')"
                        + "/TCP(sport=80,dport=40000,flags='SA',seq=5,ack=1001)/(b'y'*1400),576))", TC_ACT_OK,
                "eth(IP(src=POD,dst=BE1)/ICMP(type=3,code=4,nexthopmtu=1280)/quote(IP(src=BE1,dst=POD,flags='DF')"
                        + "/TCP(sport=8080,dport=40000,flags='SA',seq=5,ack=1001)/(b'y'*1400),576))", null));
        s.add(new Spec("the pod's error about traffic that is no Service's is not enilb's: untouched, next filter", eg,
                dnsFlow, "eth(IP(src=POD,dst=BE1)/ICMP(type=3,code=3)/IP(src=BE1,dst=POD)/UDP(sport=5353,dport=40009)/b'x')",
                TC_ACT_UNSPEC, null, null));
        s.add(new Spec("self-access: the pod's error about its own reply goes to loopback, translated", eg, selfFlow,
                "eth(IP(src=POD,dst=VIP)/ICMP(type=3,code=3)/" + REPLY_GOT + ")", TC_ACT_REDIRECT,
                "eth(IP(src=POD,dst=POD)/ICMP(type=3,code=3)/IP(src=POD,dst=POD,id=0x55)/UDP(sport=5353,dport=40001)/b'answer',dst=ZERO_MAC)",
                null));
        s.add(new Spec("an error to a ClusterIP about no known flow is dropped and counted", eg, DNS,
                "eth(IP(src=POD,dst=VIP)/ICMP(type=3,code=3)/" + REPLY_GOT + ")", TC_ACT_SHOT, null,
                DropReason.ICMP_UNTRANSLATABLE));
        s.add(new Spec("an echo request to a ClusterIP is dropped and counted, never leaked", eg, DNS,
                "eth(IP(src=POD,dst=VIP)/ICMP(type=8)/b'ping')", TC_ACT_SHOT, null, DropReason.UNTRANSLATABLE));
        s.add(new Spec("with the Service CIDR configured, an echo request to a ClusterIP inside it is still dropped", eg,
                DNS.andThen(SERVICE_CIDR), "eth(IP(src=POD,dst=VIP)/ICMP(type=8)/b'ping')", TC_ACT_SHOT, null,
                DropReason.UNTRANSLATABLE));
        s.add(new Spec("with a Service CIDR configured that does not hold the address, nothing is looked up: next filter",
                eg, DNS.andThen(f -> f.maps.configure(CIDR_CONFIG.withFrontendPrefix(Ipv4.parse("198.19.128.0"), 17))),
                "eth(IP(src=POD,dst=VIP)/ICMP(type=8)/b'ping')", TC_ACT_UNSPEC, null, null));
        s.add(new Spec("an echo request to another address is not enilb's: untouched, next filter", eg, DNS,
                "eth(IP(src=POD,dst=BE1)/ICMP(type=8)/b'ping')", TC_ACT_UNSPEC, null, null));
        s.add(new Spec("another protocol (GRE) to a ClusterIP is dropped and counted", eg, DNS,
                "eth(IP(src=POD,dst=VIP,proto=47)/b'\\x00\\x00\\x08\\x00')", TC_ACT_SHOT, null, DropReason.UNTRANSLATABLE));
        s.add(new Spec("a TCP header cut short to a ClusterIP is dropped and counted", eg, WEB,
                "eth(IP(src=POD,dst=VIP,proto=6)/b'\\x9c\\x40\\x00\\x50')", TC_ACT_SHOT, null, DropReason.UNTRANSLATABLE));
        // fragments to a ClusterIP
        s.add(new Spec("the first fragment to a ClusterIP: DNAT, the UDP checksum covers the whole datagram", eg, DNS,
                "eth(frag(" + DGRAM_VIP + ",0))", TC_ACT_OK, "eth(frag(" + DGRAM_BE + ",0))", null));
        s.add(new Spec("a later fragment after its first goes to the same backend", eg,
                flow(DNS, sent.get("eth(frag(" + DGRAM_VIP + ",0))")), "eth(frag(" + DGRAM_VIP + ",1))", TC_ACT_OK,
                "eth(frag(" + DGRAM_BE + ",1))", null));
        s.add(new Spec("the last fragment after its first goes to the same backend", eg,
                flow(DNS, sent.get("eth(frag(" + DGRAM_VIP + ",0))")), "eth(frag(" + DGRAM_VIP + ",2))", TC_ACT_OK,
                "eth(frag(" + DGRAM_BE + ",2))", null));
        s.add(new Spec("a later fragment whose first was not seen is dropped and counted, never leaked", eg, DNS,
                "eth(frag(" + DGRAM_VIP + ",1))", TC_ACT_SHOT, null, DropReason.FRAG_NO_FIRST));
        s.add(new Spec("a later fragment to another address is not enilb's: untouched, next filter", eg, DNS, "eth(frag(" + DGRAM_BE + ",1))",
                TC_ACT_UNSPEC, null, null));
        // fragments of a reply
        s.add(new Spec("the first fragment of a reply gets VIP:53 back", in, dnsFlow, "eth(frag(" + RDGRAM_BE + ",0))",
                TC_ACT_OK, "eth(frag(" + RDGRAM_VIP + ",0))", null));
        s.add(new Spec("a later fragment of a reply after its first gets the ClusterIP back", in,
                dnsFlow.andThen(f -> f.ingress().testRun(sent.get("eth(frag(" + RDGRAM_BE + ",0))"), 1)),
                "eth(frag(" + RDGRAM_BE + ",1))", TC_ACT_OK, "eth(frag(" + RDGRAM_VIP + ",1))", null));
        s.add(new Spec("a later fragment of a reply whose first was not seen is not enilb's: untouched, next filter", in, dnsFlow,
                "eth(frag(" + RDGRAM_BE + ",1))", TC_ACT_UNSPEC, null, null));
        // IP options
        s.add(new Spec("a TCP SYN with IP options to a ClusterIP is DNATed", eg, WEB,
                "eth(IP(src=POD,dst=VIP," + OPTS + ")/TCP(sport=40000,dport=80,flags='S'))", TC_ACT_OK,
                "eth(IP(src=POD,dst=BE1," + OPTS + ")/TCP(sport=40000,dport=8080,flags='S'))", null));
        s.add(new Spec("a UDP reply with IP options gets VIP:53 back", in, dnsFlow,
                "eth(IP(src=BE1,dst=POD," + OPTS + ")/UDP(sport=5353,dport=40001)/b'answer')", TC_ACT_OK,
                "eth(IP(src=VIP,dst=POD," + OPTS + ")/UDP(sport=53,dport=40001)/b'answer')", null));
        s.add(new Spec("a SYN with IP options to a Service without backends is refused, quoting header and options", eg,
                f -> f.service(1, VIP, 80, TCP, 0), "eth(IP(src=POD,dst=VIP," + OPTS + ")/TCP(sport=40000,dport=80,flags='S'))",
                TC_ACT_REDIRECT, "eth(IP(src=VIP,dst=POD,id=0)/ICMP(type=3,code=3)/quote(IP(src=POD,dst=VIP," + OPTS
                + ")/TCP(sport=40000,dport=80,flags='S'),32),dst=POD_MAC,src=GW_MAC)", DropReason.NO_BACKEND));
        return s;
    }

    static Stream<Row> rows() {
        List<String> expressions = new ArrayList<>(List.of(UDP_OUT, TCP_OUT, "eth(frag(" + DGRAM_VIP + ",0))",
                "eth(frag(" + RDGRAM_BE + ",0))"));
        List<Spec> specs = specs(Map.of());
        for (Spec s : specs) {
            expressions.add(s.in);
            if (s.out != null) {
                expressions.add(s.out);
            }
        }
        Map<String, byte[]> frames = Scapy.build(expressions.stream().distinct().toList(), POD, BE1, VIP, ROUTER);
        return specs(frames).stream().map(s -> new Row(s, frames.get(s.in), frames.get(s.out != null ? s.out : s.in)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("rows")
    void row(Row row) {
        run(dp, row);
    }

    /** Runs one row on dp: setup, the packet through the row's program, verdict, bytes out, drops. */
    static void run(DatapathFixture dp, Row row) {
        row.spec.setup.accept(dp);
        long[] before = drops(dp);
        BpfProgram.TestRun run = dp.datapath.program(row.spec.program).testRun(row.in, 1);
        assertThat(run.verdict()).as("verdict").isEqualTo(row.spec.verdict);
        assertThat(Packets.hex(run.packet())).as("packet out").isEqualTo(Packets.hex(row.out));
        long[] after = drops(dp);
        for (DropReason r : DropReason.values()) {
            long expected = r == row.spec.counted ? 1 : 0;
            assertThat(after[r.ordinal()] - before[r.ordinal()]).as("drops counted as %s", r).isEqualTo(expected);
        }
    }

    /**
     * The fragment map is bounded and ages by use (LRU): a thousand fragmented datagrams through
     * a 64-entry map leave at most 64 entries, and the newest datagram's later fragment still
     * finds its first.
     */
    @org.junit.jupiter.api.Test
    void theFragmentMapIsBoundedAndKeepsTheNewestDatagrams() {
        List<String> expressions = new ArrayList<>();
        for (int id = 1; id <= 1000; id++) {
            expressions.add("eth(frag(IP(src=POD,dst=VIP,id=" + id + ")/UDP(sport=40001,dport=53)/(b'0123456789abcdef'*4),0))");
        }
        String later = "eth(frag(IP(src=POD,dst=VIP,id=1000)/UDP(sport=40001,dport=53)/(b'0123456789abcdef'*4),1))";
        String laterOut = "eth(frag(IP(src=POD,dst=BE1,id=1000)/UDP(sport=40001,dport=5353)/(b'0123456789abcdef'*4),1))";
        expressions.add(later);
        expressions.add(laterOut);
        Map<String, byte[]> frames = Scapy.build(expressions, POD, BE1, VIP, ROUTER);
        dp.close();
        dp = new DatapathFixture(Map.of(BpfObject.MapNames.FRAGMENTS, 64, BpfObject.MapNames.PODS, 64,
                BpfObject.MapNames.CONNTRACK, 1024)).podOwns(POD);
        DNS.accept(dp);
        for (int i = 0; i < 1000; i++) {
            assertThat(dp.egress().testRun(frames.get(expressions.get(i)), 1).verdict()).isEqualTo(TC_ACT_OK);
        }
        assertThat(dp.maps.fragments().maxEntries()).isEqualTo(64);
        assertThat(dp.maps.fragments().keys().size()).isBetween(1, 64);
        BpfProgram.TestRun run = dp.egress().testRun(frames.get(later), 1);
        assertThat(run.verdict()).isEqualTo(TC_ACT_OK);
        assertThat(Packets.hex(run.packet())).isEqualTo(Packets.hex(frames.get(laterOut)));
        assertThat(dp.maps.dropped(DropReason.FRAG_FULL)).isZero();
    }

    private static long[] drops(DatapathFixture dp) {
        long[] n = new long[DropReason.values().length];
        for (DropReason r : DropReason.values()) {
            n[r.ordinal()] = dp.maps.dropped(r);
        }
        return n;
    }
}
