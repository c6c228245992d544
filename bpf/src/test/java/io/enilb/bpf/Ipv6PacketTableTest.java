package io.enilb.bpf;

import static io.enilb.bpf.DatapathFixture.Be.active;
import static io.enilb.bpf.EveryPacketTableTest.TC_ACT_OK;
import static io.enilb.bpf.EveryPacketTableTest.TC_ACT_REDIRECT;
import static io.enilb.bpf.EveryPacketTableTest.TC_ACT_SHOT;
import static io.enilb.bpf.EveryPacketTableTest.TC_ACT_UNSPEC;
import static io.enilb.bpf.Packets.TCP;
import static io.enilb.bpf.Packets.UDP;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;

import io.enilb.bpf.EveryPacketTableTest.Row;
import io.enilb.bpf.EveryPacketTableTest.Spec;
import io.enilb.bpf.Maps.DropReason;
import io.enilb.bpf.Structs.FrontendPrefix6;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The IPv6 datapath, one packet per row through BPF_PROG_TEST_RUN (the IPv4 programs tail-call
 * the IPv6 ones, so every row also goes through that dispatch): DNAT and reverse DNAT, extension
 * headers, fragments, reject (ICMPv6 port unreachable, a reset for a SYN), spoofed sources, self-access, ICMPv6
 * errors both ways, and nothing to a ClusterIP leaking. Packets in and expected out are scapy's
 * (see {@link Scapy}), so every checksum (TCP/UDP over the IPv6 pseudo-header, ICMPv6 with its
 * pseudo-header, quoted checksums) is checked against an implementation independent of enilb.
 */
@org.junit.jupiter.api.Tag("kernel") // root, BPF and network namespaces: left out by -DexcludedGroups=kernel
class Ipv6PacketTableTest {
    static final String POD = "2001:db8:18::a";
    static final String OTHER = "2001:db8:18::66";
    static final String BE1 = "2001:db8:18::b1";
    static final String VIP = "2001:db8:19::1";
    static final String ROUTER = "2001:db8:18::1";
    static final Map<String, String> NAMES = Map.of("POD", POD, "OTHER", OTHER, "BE1", BE1, "VIP", VIP,
            "ROUTER", ROUTER);

    private DatapathFixture dp;

    @BeforeEach
    void load() {
        dp = new DatapathFixture().podOwns6(POD);
    }

    @AfterEach
    void unload() {
        dp.close();
    }

    static final Consumer<DatapathFixture> DNS = f -> f.service6(2, VIP, 53, UDP, 0, active(BE1, 5353));
    static final Consumer<DatapathFixture> WEB = f -> f.service6(1, VIP, 80, TCP, 0, active(BE1, 8080));
    static final Consumer<DatapathFixture> SELF_DNS = f -> f.service6(2, VIP, 53, UDP, 0, active(POD, 5353));

    static final String UDP_OUT = "eth(IPv6(src=POD,dst=VIP)/UDP(sport=40001,dport=53)/b'query')";
    static final String UDP_OUT_BE = "eth(IPv6(src=POD,dst=BE1)/UDP(sport=40001,dport=5353)/b'query')";
    static final String SYN_OUT = "eth(IPv6(src=POD,dst=VIP)/TCP(sport=40000,dport=80,flags='S',seq=1000))";
    static final String SYN_OUT_BE = "eth(IPv6(src=POD,dst=BE1)/TCP(sport=40000,dport=8080,flags='S',seq=1000))";
    // what the pod sent (after DNAT, as an error quotes it; before DNAT, as the pod knows it)
    static final String UDP_SENT_BE = "IPv6(src=POD,dst=BE1)/UDP(sport=40001,dport=5353)/b'query'";
    static final String UDP_SENT_VIP = "IPv6(src=POD,dst=VIP)/UDP(sport=40001,dport=53)/b'query'";
    static final String TCP_SENT_BE = "IPv6(src=POD,dst=BE1)/TCP(sport=40000,dport=8080,flags='A',seq=1001,ack=7)/(b'x'*1400)";
    static final String TCP_SENT_VIP = "IPv6(src=POD,dst=VIP)/TCP(sport=40000,dport=80,flags='A',seq=1001,ack=7)/(b'x'*1400)";
    // a reply as the backend sent it and as the pod gets it
    static final String REPLY_SENT = "IPv6(src=BE1,dst=POD)/UDP(sport=5353,dport=40001)/b'answer'";
    static final String REPLY_GOT = "IPv6(src=VIP,dst=POD)/UDP(sport=53,dport=40001)/b'answer'";
    // a datagram in fragments (56, 56 and 32 bytes of fragmentable payload)
    static final String DGRAM_VIP = "IPv6(src=POD,dst=VIP)/IPv6ExtHdrFragment(id=0x4242)/UDP(sport=40001,dport=53)/(b'0123456789abcdef'*8)";
    static final String DGRAM_BE = "IPv6(src=POD,dst=BE1)/IPv6ExtHdrFragment(id=0x4242)/UDP(sport=40001,dport=5353)/(b'0123456789abcdef'*8)";
    static final String RDGRAM_BE = "IPv6(src=BE1,dst=POD)/IPv6ExtHdrFragment(id=0x77)/UDP(sport=5353,dport=40001)/(b'fedcba9876543210'*8)";
    static final String RDGRAM_VIP = "IPv6(src=VIP,dst=POD)/IPv6ExtHdrFragment(id=0x77)/UDP(sport=53,dport=40001)/(b'fedcba9876543210'*8)";
    static final String EXT = "IPv6ExtHdrHopByHop()/IPv6ExtHdrDestOpt()/IPv6ExtHdrRouting(segleft=0)";

    /** The lab's IPv6 Service CIDR (service-cidr6), which holds VIP. */
    static final Consumer<DatapathFixture> SERVICE_CIDR6 =
            f -> f.maps.configure6(FrontendPrefix6.of(Ipv6.parse("2001:db8:19::"), 108));
    /** A Service CIDR that does not hold VIP. */
    static final Consumer<DatapathFixture> OTHER_CIDR6 =
            f -> f.maps.configure6(FrontendPrefix6.of(Ipv6.parse("2001:db8:19::1:0"), 112));

    static Consumer<DatapathFixture> flow(Consumer<DatapathFixture> service, byte[] first) {
        return service.andThen(f -> assertThat(f.egress().testRun(first, 1).verdict()).isNotEqualTo(TC_ACT_SHOT));
    }

    /** What a host without a listener answers SYN_OUT with: RST|ACK, seq 0, window 0. */
    static final String RESET =
            "eth(IPv6(src=VIP,dst=POD)/TCP(sport=80,dport=40000,flags='RA',seq=0,ack=1001,window=0),dst=POD_MAC,src=GW_MAC)";

    static String reject(String packet) {
        return "eth(IPv6(src=VIP,dst=POD)/ICMPv6DestUnreach(code=4)/quote(" + packet + ",1232),dst=POD_MAC,src=GW_MAC)";
    }

    static List<Spec> specs(Map<String, byte[]> sent) {
        Consumer<DatapathFixture> dnsFlow = flow(DNS, sent.get(UDP_OUT));
        Consumer<DatapathFixture> webFlow = flow(WEB, sent.get(SYN_OUT));
        Consumer<DatapathFixture> selfFlow = flow(SELF_DNS, sent.get(UDP_OUT));
        String eg = Datapath.EGRESS;
        String in = Datapath.INGRESS;
        String lo = Datapath.LO_EGRESS;
        List<Spec> s = new ArrayList<>();
        // the pod's flows to a ClusterIP
        s.add(new Spec("UDP to [VIP]:53 is DNATed to [BE1]:5353 (pseudo-header checksum)", eg, DNS, UDP_OUT, TC_ACT_OK,
                UDP_OUT_BE, null));
        s.add(new Spec("a TCP SYN to [VIP]:80 is DNATed to [BE1]:8080", eg, WEB, SYN_OUT, TC_ACT_OK, SYN_OUT_BE, null));
        s.add(new Spec("a SYN behind hop-by-hop, destination options and routing headers is DNATed, the headers kept", eg,
                WEB, "eth(IPv6(src=POD,dst=VIP)/" + EXT + "/TCP(sport=40000,dport=80,flags='S'))", TC_ACT_OK,
                "eth(IPv6(src=POD,dst=BE1)/" + EXT + "/TCP(sport=40000,dport=8080,flags='S'))", null));
        s.add(new Spec("a UDP checksum of 0 (invalid in IPv6) stays 0: the receiver drops it, as it would have", eg, DNS,
                "eth(IPv6(src=POD,dst=VIP)/UDP(sport=40001,dport=53,chksum=0)/b'query')", TC_ACT_OK,
                "eth(IPv6(src=POD,dst=BE1)/UDP(sport=40001,dport=5353,chksum=0)/b'query')", null));
        s.add(new Spec("a new flow from a source the pod does not own is dropped and counted", eg, DNS,
                "eth(IPv6(src=OTHER,dst=VIP)/UDP(sport=40001,dport=53)/b'query')", TC_ACT_SHOT, null, DropReason.SPOOFED));
        s.add(new Spec("a Service without backends refuses a SYN with a reset from [VIP]:80 (ack = seq + 1)", eg,
                f -> f.service6(1, VIP, 80, TCP, 0), SYN_OUT, TC_ACT_REDIRECT, RESET, DropReason.NO_BACKEND));
        s.add(new Spec("a SYN carrying data behind extension headers: the reset acknowledges the data too", eg,
                f -> f.service6(1, VIP, 80, TCP, 0),
                "eth(IPv6(src=POD,dst=VIP)/" + EXT + "/TCP(sport=40000,dport=80,flags='S',seq=1000)/(b'd'*100))",
                TC_ACT_REDIRECT, RESET.replace("ack=1001", "ack=1101"), DropReason.NO_BACKEND));
        s.add(new Spec("a Service without backends refuses other TCP with ICMPv6 port unreachable quoting the whole packet",
                eg, f -> f.service6(1, VIP, 80, TCP, 0), "eth(" + TCP_SENT_VIP + ")", TC_ACT_REDIRECT,
                reject(TCP_SENT_VIP), DropReason.NO_BACKEND));
        s.add(new Spec("a SYN to another port of a ClusterIP is refused with a reset too", eg, WEB,
                "eth(IPv6(src=POD,dst=VIP)/TCP(sport=40000,dport=81,flags='S',seq=1000))", TC_ACT_REDIRECT,
                RESET.replace("sport=80", "sport=81"), DropReason.UNTRANSLATABLE));
        s.add(new Spec("another port of a ClusterIP is refused, a long datagram quoted up to 1280 bytes in all", eg, DNS,
                "eth(IPv6(src=POD,dst=VIP)/UDP(sport=40001,dport=54)/(b'z'*1400))", TC_ACT_REDIRECT,
                reject("IPv6(src=POD,dst=VIP)/UDP(sport=40001,dport=54)/(b'z'*1400)"), DropReason.UNTRANSLATABLE));
        s.add(new Spec("self-access: a backend that is the pod itself goes to loopback", eg, SELF_DNS, UDP_OUT,
                TC_ACT_REDIRECT, "eth(IPv6(src=POD,dst=POD)/UDP(sport=40001,dport=5353)/b'query',dst=ZERO_MAC)", null));
        s.add(new Spec("an echo request to a ClusterIP is dropped and counted, never leaked", eg, DNS,
                "eth(IPv6(src=POD,dst=VIP)/ICMPv6EchoRequest())", TC_ACT_SHOT, null, DropReason.UNTRANSLATABLE));
        s.add(new Spec("an echo request to another address is not enilb's: untouched, next filter", eg, DNS,
                "eth(IPv6(src=POD,dst=BE1)/ICMPv6EchoRequest())", TC_ACT_UNSPEC, null, null));
        s.add(new Spec("more extension headers than the parser walks, to a ClusterIP: dropped and counted", eg, DNS,
                "eth(IPv6(src=POD,dst=VIP)/" + "IPv6ExtHdrDestOpt()/".repeat(7) + "UDP(sport=40001,dport=53)/b'q')",
                TC_ACT_SHOT, null, DropReason.UNTRANSLATABLE));
        s.add(new Spec("more extension headers than the parser walks, elsewhere: not enilb's", eg, DNS,
                "eth(IPv6(src=POD,dst=BE1)/" + "IPv6ExtHdrDestOpt()/".repeat(7) + "UDP(sport=40001,dport=53)/b'q')",
                TC_ACT_UNSPEC, null, null));
        s.add(new Spec("TCP to another address is not enilb's: untouched, next filter", eg, WEB,
                "eth(IPv6(src=POD,dst=BE1)/TCP(sport=40000,dport=8080,flags='S'))", TC_ACT_UNSPEC, null, null));
        s.add(new Spec("with the IPv6 Service CIDR configured, foreign TCP outside it is untouched, next filter", eg,
                WEB.andThen(SERVICE_CIDR6), "eth(IPv6(src=POD,dst=BE1)/TCP(sport=40000,dport=8080,flags='A',seq=5,ack=7)/b'x')",
                TC_ACT_UNSPEC, null, null));
        s.add(new Spec("with the IPv6 Service CIDR configured, a SYN to a ClusterIP inside it is still DNATed", eg,
                WEB.andThen(SERVICE_CIDR6), SYN_OUT, TC_ACT_OK, SYN_OUT_BE, null));
        s.add(new Spec("with the IPv6 Service CIDR configured, an echo request to a ClusterIP inside it is still dropped",
                eg, DNS.andThen(SERVICE_CIDR6), "eth(IPv6(src=POD,dst=VIP)/ICMPv6EchoRequest())", TC_ACT_SHOT, null,
                DropReason.UNTRANSLATABLE));
        s.add(new Spec("with an IPv6 Service CIDR that does not hold the address, nothing is looked up: next filter", eg,
                DNS.andThen(OTHER_CIDR6), "eth(IPv6(src=POD,dst=VIP)/ICMPv6EchoRequest())", TC_ACT_UNSPEC, null, null));
        // fragments
        s.add(new Spec("the first fragment to a ClusterIP: DNAT, the UDP checksum covers the whole datagram", eg, DNS,
                "eth(frag6(" + DGRAM_VIP + ",0))", TC_ACT_OK, "eth(frag6(" + DGRAM_BE + ",0))", null));
        s.add(new Spec("a later fragment after its first goes to the same backend", eg,
                flow(DNS, sent.get("eth(frag6(" + DGRAM_VIP + ",0))")), "eth(frag6(" + DGRAM_VIP + ",1))", TC_ACT_OK,
                "eth(frag6(" + DGRAM_BE + ",1))", null));
        s.add(new Spec("a later fragment whose first was not seen is dropped and counted, never leaked", eg, DNS,
                "eth(frag6(" + DGRAM_VIP + ",2))", TC_ACT_SHOT, null, DropReason.FRAG_NO_FIRST));
        s.add(new Spec("the first fragment of a reply gets [VIP]:53 back", in, dnsFlow, "eth(frag6(" + RDGRAM_BE + ",0))",
                TC_ACT_OK, "eth(frag6(" + RDGRAM_VIP + ",0))", null));
        s.add(new Spec("a later fragment of a reply after its first gets the ClusterIP back", in,
                dnsFlow.andThen(f -> f.ingress().testRun(sent.get("eth(frag6(" + RDGRAM_BE + ",0))"), 1)),
                "eth(frag6(" + RDGRAM_BE + ",1))", TC_ACT_OK, "eth(frag6(" + RDGRAM_VIP + ",1))", null));
        // replies
        s.add(new Spec("a UDP reply gets [VIP]:53 back", in, dnsFlow, "eth(" + REPLY_SENT + ")", TC_ACT_OK,
                "eth(" + REPLY_GOT + ")", null));
        s.add(new Spec("a SYN-ACK gets [VIP]:80 back", in, webFlow,
                "eth(IPv6(src=BE1,dst=POD)/TCP(sport=8080,dport=40000,flags='SA',seq=5,ack=1001))", TC_ACT_OK,
                "eth(IPv6(src=VIP,dst=POD)/TCP(sport=80,dport=40000,flags='SA',seq=5,ack=1001))", null));
        s.add(new Spec("a packet of no flow is not enilb's: untouched, next filter", in, dnsFlow,
                "eth(IPv6(src=BE1,dst=POD)/UDP(sport=5353,dport=40002)/b'x')", TC_ACT_UNSPEC, null, null));
        s.add(new Spec("self-access reply on loopback gets [VIP]:53 back", lo, selfFlow,
                "eth(IPv6(src=POD,dst=POD)/UDP(sport=5353,dport=40001)/b'answer')", TC_ACT_OK,
                "eth(IPv6(src=VIP,dst=POD)/UDP(sport=53,dport=40001)/b'answer')", null));
        s.add(new Spec("loopback leaves a reply of a flow that is not self-access alone", lo, dnsFlow,
                "eth(" + REPLY_SENT + ")", TC_ACT_UNSPEC, null, null));
        // ICMPv6 errors arriving for the pod
        s.add(new Spec("port unreachable from the backend: outer source and quoted destination become [VIP]:53", in,
                dnsFlow, "eth(IPv6(src=BE1,dst=POD)/ICMPv6DestUnreach(code=4)/" + UDP_SENT_BE + ")", TC_ACT_OK,
                "eth(IPv6(src=VIP,dst=POD)/ICMPv6DestUnreach(code=4)/" + UDP_SENT_VIP + ")", null));
        s.add(new Spec("packet too big from a router: the router stays, the quoted segment gets [VIP]:80, MTU kept", in,
                webFlow, "eth(IPv6(src=ROUTER,dst=POD)/ICMPv6PacketTooBig(mtu=1280)/quote(" + TCP_SENT_BE + ",1232))",
                TC_ACT_OK, "eth(IPv6(src=ROUTER,dst=POD)/ICMPv6PacketTooBig(mtu=1280)/quote(" + TCP_SENT_VIP + ",1232))",
                null));
        s.add(new Spec("time exceeded from a router quoting the datagram", in, dnsFlow,
                "eth(IPv6(src=ROUTER,dst=POD)/ICMPv6TimeExceeded(code=0)/" + UDP_SENT_BE + ")", TC_ACT_OK,
                "eth(IPv6(src=ROUTER,dst=POD)/ICMPv6TimeExceeded(code=0)/" + UDP_SENT_VIP + ")", null));
        s.add(new Spec("parameter problem from the backend, quote with an extension header", in, dnsFlow,
                "eth(IPv6(src=BE1,dst=POD)/ICMPv6ParamProblem(code=1,ptr=40)/IPv6(src=POD,dst=BE1)/IPv6ExtHdrDestOpt()"
                        + "/UDP(sport=40001,dport=5353)/b'query')", TC_ACT_OK,
                "eth(IPv6(src=VIP,dst=POD)/ICMPv6ParamProblem(code=1,ptr=40)/IPv6(src=POD,dst=VIP)/IPv6ExtHdrDestOpt()"
                        + "/UDP(sport=40001,dport=53)/b'query')", null));
        s.add(new Spec("an error about a flow enilb did not translate is not enilb's", in, dnsFlow,
                "eth(IPv6(src=BE1,dst=POD)/ICMPv6DestUnreach(code=4)/IPv6(src=POD,dst=BE1)/UDP(sport=40002,dport=5353)/b'q')",
                TC_ACT_UNSPEC, null, null));
        s.add(new Spec("self-access on loopback: the pod's own port unreachable gets [VIP]:53", lo, selfFlow,
                "eth(IPv6(src=POD,dst=POD)/ICMPv6DestUnreach(code=4)/IPv6(src=POD,dst=POD)/UDP(sport=40001,dport=5353)/b'query')",
                TC_ACT_OK, "eth(IPv6(src=VIP,dst=POD)/ICMPv6DestUnreach(code=4)/" + UDP_SENT_VIP + ")", null));
        // ICMPv6 errors the pod sends about a reply
        s.add(new Spec("the pod's port unreachable about a reply goes to the backend, quoting the reply as it was sent", eg,
                dnsFlow, "eth(IPv6(src=POD,dst=VIP)/ICMPv6DestUnreach(code=4)/" + REPLY_GOT + ")", TC_ACT_OK,
                "eth(IPv6(src=POD,dst=BE1)/ICMPv6DestUnreach(code=4)/" + REPLY_SENT + ")", null));
        s.add(new Spec("an error to a ClusterIP about no known flow is dropped and counted", eg, DNS,
                "eth(IPv6(src=POD,dst=VIP)/ICMPv6DestUnreach(code=4)/" + REPLY_GOT + ")", TC_ACT_SHOT, null,
                DropReason.ICMP_UNTRANSLATABLE));
        s.add(new Spec("neighbour solicitation is not enilb's", eg, DNS,
                "eth(IPv6(src=POD,dst='ff02::1:ff00:b1',hlim=255)/ICMPv6ND_NS(tgt=BE1))", TC_ACT_UNSPEC, null, null));
        return s;
    }

    static Stream<Row> rows() {
        List<String> expressions = new ArrayList<>(List.of(UDP_OUT, SYN_OUT, "eth(frag6(" + DGRAM_VIP + ",0))",
                "eth(frag6(" + RDGRAM_BE + ",0))"));
        List<Spec> specs = specs(Map.of());
        for (Spec s : specs) {
            expressions.add(s.in());
            if (s.out() != null) {
                expressions.add(s.out());
            }
        }
        Map<String, byte[]> frames = Scapy.build(expressions.stream().distinct().toList(), NAMES);
        return specs(frames).stream().map(s -> new Row(s, frames.get(s.in()), frames.get(s.out() != null ? s.out() : s.in())));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("rows")
    void row(Row row) {
        EveryPacketTableTest.run(dp, row);
    }
}
