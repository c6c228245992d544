package io.enilb.bpf;

import static io.enilb.bpf.DatapathFixture.Be.active;
import static io.enilb.bpf.Packets.ACK;
import static io.enilb.bpf.Packets.SYN;
import static io.enilb.bpf.Packets.TCP;
import static io.enilb.bpf.Packets.UDP;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The datapath's behaviour, one packet per row, run in the kernel through BPF_PROG_TEST_RUN:
 * the packet in, the verdict, and the exact packet out with its checksums verified.
 */
@org.junit.jupiter.api.Tag("kernel") // root, BPF and network namespaces: left out by -DexcludedGroups=kernel
class PacketTableTest {
    static final int TC_ACT_UNSPEC = -1;
    static final int TC_ACT_OK = 0;
    static final int TC_ACT_SHOT = 2;
    static final int TC_ACT_REDIRECT = 7;
    static final String POD = "198.18.0.10";
    static final String BE1 = "198.18.0.21";
    static final String VIP = "198.19.0.10";

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
     * @param description what the row shows
     * @param program     enilb_egress, enilb_ingress or enilb_lo_egress
     * @param setup       map contents (and earlier packets) before the row's packet
     * @param in          the packet in
     * @param verdict     the tc verdict expected
     * @param out         the packet expected out, computed from the packet in
     */
    record Row(String description, String program, Consumer<DatapathFixture> setup, byte[] in, int verdict,
               Function<byte[], byte[]> out) {
        @Override
        public String toString() {
            return description;
        }
    }

    static final Consumer<DatapathFixture> WEB = f -> f.service(1, VIP, 80, TCP, 0, active(BE1, 8080));
    static final Consumer<DatapathFixture> DNS = f -> f.service(2, VIP, 53, UDP, 0, active(BE1, 5353));
    static final byte[] SYN_TO_VIP = Packets.tcp(POD, 40000, VIP, 80, SYN, "");
    static final byte[] DATA_TO_VIP = Packets.tcp(POD, 40000, VIP, 80, ACK, "GET / HTTP/1.0\r\n\r\n");
    static final byte[] UDP_TO_VIP = Packets.udp(POD, 40001, VIP, 53, "query", false);
    static final byte[] UDP0_TO_VIP = Packets.udp(POD, 40001, VIP, 53, "query", true);

    static Stream<Row> rows() {
        return Stream.of(
                new Row("TCP SYN to a ClusterIP is DNATed to its backend", Datapath.EGRESS, WEB, SYN_TO_VIP, TC_ACT_OK,
                        in -> Packets.rewrite(in, POD, 40000, BE1, 8080)),
                new Row("TCP data with payload to a ClusterIP is DNATed", Datapath.EGRESS, WEB, DATA_TO_VIP, TC_ACT_OK,
                        in -> Packets.rewrite(in, POD, 40000, BE1, 8080)),
                new Row("UDP to a ClusterIP is DNATed to its backend", Datapath.EGRESS, DNS, UDP_TO_VIP, TC_ACT_OK,
                        in -> Packets.rewrite(in, POD, 40001, BE1, 5353)),
                new Row("UDP with checksum 0 is DNATed and keeps checksum 0", Datapath.EGRESS, DNS, UDP0_TO_VIP,
                        TC_ACT_OK, in -> Packets.rewrite(in, POD, 40001, BE1, 5353)),
                new Row("another destination is not enilb's: untouched, next filter", Datapath.EGRESS, WEB,
                        Packets.tcp(POD, 40000, BE1, 80, SYN, ""), TC_ACT_UNSPEC, in -> in),
                new Row("the ClusterIP on a port that is not the Service's is refused (kube-proxy's nftables mode does)",
                        Datapath.EGRESS, WEB, Packets.tcp(POD, 40000, VIP, 81, SYN, ""), TC_ACT_REDIRECT,
                        PacketTableTest::portUnreachable),
                new Row("UDP to a TCP-only Service port is refused", Datapath.EGRESS, WEB,
                        Packets.udp(POD, 40000, VIP, 80, "x", false), TC_ACT_REDIRECT, PacketTableTest::portUnreachable),
                new Row("IPv6 is not enilb's: untouched, next filter", Datapath.EGRESS, WEB, Packets.withEtherType(SYN_TO_VIP, 0x86dd),
                        TC_ACT_UNSPEC, in -> in),
                new Row("ARP is not enilb's: untouched, next filter", Datapath.EGRESS, WEB, Packets.withEtherType(SYN_TO_VIP, 0x0806),
                        TC_ACT_UNSPEC, in -> in),
                new Row("a Service without active backends answers ICMP port unreachable to the pod", Datapath.EGRESS,
                        f -> f.service(1, VIP, 80, TCP, 0), SYN_TO_VIP, TC_ACT_REDIRECT, PacketTableTest::portUnreachable),
                new Row("a Service with only terminating backends rejects new flows too", Datapath.EGRESS,
                        f -> f.service(1, VIP, 80, TCP, 0, DatapathFixture.Be.terminating(BE1, 8080)), SYN_TO_VIP,
                        TC_ACT_REDIRECT, PacketTableTest::portUnreachable),
                new Row("UDP to a Service without backends is answered ICMP port unreachable", Datapath.EGRESS,
                        f -> f.service(2, VIP, 53, UDP, 0), UDP_TO_VIP, TC_ACT_REDIRECT, PacketTableTest::portUnreachable),
                new Row("self-access: the pod is the backend, the packet goes to loopback", Datapath.EGRESS,
                        f -> f.service(1, VIP, 80, TCP, 0, active(POD, 8080)), SYN_TO_VIP, TC_ACT_REDIRECT,
                        in -> Packets.withDestinationMac(Packets.rewrite(in, POD, 40000, POD, 8080), new byte[6])),
                new Row("a reply from the backend gets the ClusterIP back", Datapath.INGRESS,
                        WEB.andThen(f -> f.egress().testRun(SYN_TO_VIP, 1)),
                        Packets.tcp(BE1, 8080, POD, 40000, SYN | ACK, ""), TC_ACT_OK,
                        in -> Packets.rewrite(in, VIP, 80, POD, 40000)),
                new Row("a UDP reply without checksum gets the ClusterIP back and keeps checksum 0", Datapath.INGRESS,
                        DNS.andThen(f -> f.egress().testRun(UDP0_TO_VIP, 1)),
                        Packets.udp(BE1, 5353, POD, 40001, "answer", true), TC_ACT_OK,
                        in -> Packets.rewrite(in, VIP, 53, POD, 40001)),
                new Row("a packet of no enilb flow passes ingress untouched", Datapath.INGRESS, WEB,
                        Packets.tcp(BE1, 8080, POD, 40000, SYN | ACK, ""), TC_ACT_UNSPEC, in -> in),
                new Row("the reply of a self-access flow on loopback gets the ClusterIP back", Datapath.LO_EGRESS,
                        ((Consumer<DatapathFixture>) f -> f.service(1, VIP, 80, TCP, 0, active(POD, 8080)))
                                .andThen(f -> f.egress().testRun(SYN_TO_VIP, 1)),
                        Packets.tcp(POD, 8080, POD, 40000, SYN | ACK, ""), TC_ACT_OK,
                        in -> Packets.rewrite(in, VIP, 80, POD, 40000)),
                new Row("loopback leaves a reply of a flow that is not self-access to the next filter", Datapath.LO_EGRESS,
                        WEB.andThen(f -> f.egress().testRun(SYN_TO_VIP, 1)),
                        Packets.tcp(BE1, 8080, POD, 40000, SYN | ACK, ""), TC_ACT_UNSPEC, in -> in));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("rows")
    void row(Row row) {
        row.setup.accept(dp);
        BpfProgram.TestRun run = dp.datapath.program(row.program).testRun(row.in, 1);
        byte[] expected = row.out.apply(row.in);
        assertThat(run.verdict()).as("verdict").isEqualTo(row.verdict);
        assertThat(Packets.hex(run.packet())).as("packet out").isEqualTo(Packets.hex(expected));
        if (ByteBuffer.wrap(run.packet()).getShort(12) == 0x0800) {
            assertThat(Packets.checksumsValid(run.packet())).as("checksums of the packet out").isTrue();
        }
    }

    /** ICMP port unreachable from the ClusterIP to the pod, quoting the IP header and 8 bytes. */
    static byte[] portUnreachable(byte[] in) {
        ByteBuffer icmp = ByteBuffer.allocate(8 + 28);
        icmp.put((byte) 3).put((byte) 3).putShort((short) 0).putInt(0);
        icmp.put(in, Packets.ETH, 28);
        byte[] l4 = icmp.array();
        Packets.setShort(l4, 2, Packets.checksum(l4, 0, l4.length, 0));
        byte[] out = Packets.frame(Packets.daddr(in), Packets.saddr(in), Packets.ICMP, l4, -1);
        // from the gateway's MAC to the pod's: it arrives as if the fabric had answered
        System.arraycopy(in, 6, out, 0, 6);
        System.arraycopy(in, 0, out, 6, 6);
        // the reject carries IP id 0 and no DF flag
        Packets.setShort(out, Packets.ETH + 4, 0);
        Packets.setShort(out, Packets.ETH + 6, 0);
        Packets.setShort(out, Packets.ETH + 10, 0);
        Packets.setShort(out, Packets.ETH + 10, Packets.checksum(out, Packets.ETH, Packets.IP, 0));
        return out;
    }

}
