package io.enilb.bpf;

import static io.enilb.bpf.DatapathFixture.Be.active;
import static io.enilb.bpf.DatapathFixture.Be.terminating;
import static io.enilb.bpf.Packets.ACK;
import static io.enilb.bpf.Packets.SYN;
import static io.enilb.bpf.Packets.TCP;
import static io.enilb.bpf.Packets.UDP;
import static io.enilb.bpf.PacketTableTest.BE1;
import static io.enilb.bpf.PacketTableTest.POD;
import static io.enilb.bpf.PacketTableTest.TC_ACT_OK;
import static io.enilb.bpf.PacketTableTest.TC_ACT_SHOT;
import static io.enilb.bpf.PacketTableTest.TC_ACT_UNSPEC;
import static io.enilb.bpf.PacketTableTest.VIP;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.stream.Stream;

import io.enilb.bpf.Structs.BackendEntry;
import io.enilb.bpf.Structs.CtConfig;
import io.enilb.bpf.Structs.CtKey;
import io.enilb.bpf.Structs.CtValue;
import io.enilb.bpf.Structs.SlotKey;
import io.enilb.bpf.Structs.SlotValue;
import io.enilb.bpf.Structs.SvcKey;
import io.enilb.bpf.Structs.SvcValue;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Conntrack as packet tables: each row is the packets and map changes before it, one packet
 * through a program, the verdict and exact packet out, and the flow's two conntrack entries
 * after it (state and remaining lifetime). Covers the TCP lifetime transitions, expiry, the
 * refresh rule, twin re-creation, validation of what an entry points at, source verification
 * and the full-table policy.
 */
@org.junit.jupiter.api.Tag("kernel") // root, BPF and network namespaces: left out by -DexcludedGroups=kernel
class ConntrackTableTest {
    static final int FIN = 0x01;
    static final int RST = 0x04;
    static final String BE2 = "198.18.0.22";
    static final String OTHER_SERVICE_POD = "198.18.0.99";
    static final long SEC = 1_000_000_000L;
    /** Distinct lifetimes, so that a row shows which one an entry got. */
    static final CtConfig LIFETIMES = CtConfig.lifetimes(11 * SEC, 80 * SEC, 3 * SEC, 44 * SEC);

    private DatapathFixture dp;

    @BeforeEach
    void load() {
        dp = new DatapathFixture().podOwns(POD);
        dp.maps.configure(LIFETIMES);
    }

    @AfterEach
    void unload() {
        dp.close();
    }

    /**
     * @param description what the row shows
     * @param program     the program the packet goes through
     * @param setup       maps and earlier packets
     * @param in          the packet
     * @param verdict     the tc verdict expected
     * @param out         the packet expected out
     * @param after       what the maps hold afterwards
     */
    record Row(String description, String program, Consumer<DatapathFixture> setup, byte[] in, int verdict,
               Function<byte[], byte[]> out, Consumer<DatapathFixture> after) {
        @Override
        public String toString() {
            return description;
        }
    }

    // the flows of the table: TCP POD:40000 -> VIP:80 (backends :8080), UDP POD:40001 -> VIP:53 (:5353)
    static byte[] tcp(int flags) {
        return Packets.tcp(POD, 40000, VIP, 80, flags, "");
    }

    static byte[] tcpReply(String backend, int flags) {
        return Packets.tcp(backend, 8080, POD, 40000, flags, "");
    }

    static final byte[] UDP_OUT = Packets.udp(POD, 40001, VIP, 53, "query", false);

    static Function<byte[], byte[]> dnatTo(String backend) {
        return in -> Packets.rewrite(in, POD, Packets.sport(in), backend, Packets.dport(in) == 80 ? 8080 : 5353);
    }

    static final Function<byte[], byte[]> REVERSE = in -> Packets.rewrite(in, VIP, Packets.sport(in) == 8080 ? 80 : 53,
            POD, Packets.dport(in));
    static final Function<byte[], byte[]> UNTOUCHED = in -> in;

    static Consumer<DatapathFixture> web(DatapathFixture.Be... backends) {
        return f -> f.service(1, VIP, 80, TCP, 0, backends);
    }

    static final Consumer<DatapathFixture> WEB = web(active(BE1, 8080));
    static final Consumer<DatapathFixture> DNS = f -> f.service(2, VIP, 53, UDP, 0, active(BE1, 5353));

    static Consumer<DatapathFixture> send(String program, byte[] packet) {
        return f -> f.datapath.program(program).testRun(packet, 1);
    }

    static final Consumer<DatapathFixture> SYN_SENT = WEB.andThen(send(Datapath.EGRESS, tcp(SYN)));
    static final Consumer<DatapathFixture> ESTABLISHED = SYN_SENT.andThen(send(Datapath.INGRESS, tcpReply(BE1, SYN | ACK)));

    /** Both entries of the TCP flow to {@code backend} are in {@code state} with about {@code lifetimeS} left. */
    static Consumer<DatapathFixture> tcpFlow(String backend, int state, long lifetimeS) {
        return f -> flow(f, TCP, 40000, 80, backend, 8080, state, lifetimeS);
    }

    static Consumer<DatapathFixture> udpFlow(String backend, int state, long lifetimeS) {
        return f -> flow(f, UDP, 40001, 53, backend, 5353, state, lifetimeS);
    }

    static void flow(DatapathFixture f, int proto, int sport, int vport, String backend, int bport, int state, long lifetimeS) {
        long now = System.nanoTime();
        CtKey original = new CtKey(f.cookie(), Ipv4.parse(POD), Ipv4.parse(VIP), sport, vport, proto, CtKey.ORIGINAL);
        CtKey reply = new CtKey(f.cookie(), Ipv4.parse(backend), Ipv4.parse(POD), bport, sport, proto, CtKey.REPLY);
        for (CtKey key : List.of(original, reply)) {
            CtValue v = f.maps.conntrack().get(key).orElseThrow(() -> new AssertionError("no entry " + key));
            assertThat(v.state()).as("state of %s", key).isEqualTo(state);
            assertThat((v.expiresNs() - now) / (double) SEC).as("seconds left of %s", key)
                    .isBetween(lifetimeS - 2.0, lifetimeS + 0.5);
        }
        assertThat(f.maps.conntrack().get(original).orElseThrow().natAddr()).isEqualTo(Ipv4.parse(backend));
        assertThat(f.maps.conntrack().get(reply).orElseThrow().natAddr()).isEqualTo(Ipv4.parse(VIP));
    }

    /** Sets every conntrack entry's expiry to now + {@code seconds} (negative: expired). */
    static Consumer<DatapathFixture> expiresIn(long seconds) {
        return f -> f.maps.conntrack().entries().forEach((k, v) ->
                f.maps.conntrack().put(k, v.withExpiry(System.nanoTime() + seconds * SEC)));
    }

    static Consumer<DatapathFixture> deleteReplyOf(String backend) {
        return f -> f.maps.conntrack().delete(
                new CtKey(f.cookie(), Ipv4.parse(backend), Ipv4.parse(POD), 8080, 40000, TCP, CtKey.REPLY));
    }

    /** Service svcId's only active backend becomes a new one, id 100, at {@code ip}. */
    static Consumer<DatapathFixture> onlyNewBackend(int svcId, String ip, int port) {
        return f -> {
            f.maps.backends().put(100, new BackendEntry(Ipv4.parse(ip), port, 0, svcId));
            f.maps.slots().put(new SlotKey(svcId, 0), new SlotValue(100));
        };
    }

    static Consumer<DatapathFixture> dropped(Maps.DropReason reason, long count) {
        return f -> assertThat(f.maps.dropped(reason)).as("drops %s", reason).isEqualTo(count);
    }

    static final Consumer<DatapathFixture> NOTHING = f -> { };
    static final String OUTSIDE = "10.1.2.3";
    static final Consumer<DatapathFixture> SERVICE_CIDR = f -> f.maps.configure(
            LIFETIMES.withFrontendPrefix(Ipv4.parse("198.19.0.0"), 16));

    static Stream<Row> rows() {
        return Stream.of(
                // lifetimes
                new Row("a SYN opens a flow: both entries SYN_SENT, SYN lifetime", Datapath.EGRESS, WEB, tcp(SYN),
                        TC_ACT_OK, dnatTo(BE1), tcpFlow(BE1, CtValue.SYN_SENT, 11)),
                new Row("the backend's SYN-ACK establishes it: established lifetime", Datapath.INGRESS, SYN_SENT,
                        tcpReply(BE1, SYN | ACK), TC_ACT_OK, REVERSE, tcpFlow(BE1, CtValue.ESTABLISHED, 80)),
                new Row("the client's ACK after its SYN establishes it too", Datapath.EGRESS, SYN_SENT, tcp(ACK),
                        TC_ACT_OK, dnatTo(BE1), tcpFlow(BE1, CtValue.ESTABLISHED, 80)),
                new Row("a FIN from the client closes it: closing lifetime", Datapath.EGRESS, ESTABLISHED,
                        tcp(FIN | ACK), TC_ACT_OK, dnatTo(BE1), tcpFlow(BE1, CtValue.CLOSING, 3)),
                new Row("an RST from the backend closes it", Datapath.INGRESS, ESTABLISHED, tcpReply(BE1, RST | ACK),
                        TC_ACT_OK, REVERSE, tcpFlow(BE1, CtValue.CLOSING, 3)),
                new Row("a SYN on a closing tuple is a new connection: SYN_SENT again", Datapath.EGRESS,
                        ESTABLISHED.andThen(send(Datapath.EGRESS, tcp(FIN | ACK))), tcp(SYN), TC_ACT_OK, dnatTo(BE1),
                        tcpFlow(BE1, CtValue.SYN_SENT, 11)),
                new Row("UDP gets the other lifetime", Datapath.EGRESS, DNS, UDP_OUT, TC_ACT_OK, dnatTo(BE1),
                        udpFlow(BE1, CtValue.OTHER, 44)),
                new Row("an expired flow counts as absent: the next packet is a new flow and selects again",
                        Datapath.EGRESS, ESTABLISHED.andThen(expiresIn(-1)).andThen(onlyNewBackend(1, BE2, 8080)),
                        tcp(ACK), TC_ACT_OK, dnatTo(BE2), tcpFlow(BE2, CtValue.ESTABLISHED, 80)),
                new Row("an expired reply entry counts as absent: the reply goes to the next filter untouched",
                        Datapath.INGRESS, SYN_SENT.andThen(expiresIn(-1)), tcpReply(BE1, SYN | ACK), TC_ACT_UNSPEC,
                        UNTOUCHED, NOTHING),
                new Row("a packet while the expiry is less than 1/8 of the lifetime behind writes nothing",
                        Datapath.EGRESS, ESTABLISHED.andThen(expiresIn(75)), tcp(ACK), TC_ACT_OK, dnatTo(BE1),
                        tcpFlow(BE1, CtValue.ESTABLISHED, 75)),
                new Row("a packet once the expiry is more than 1/8 behind refreshes both entries", Datapath.EGRESS,
                        ESTABLISHED.andThen(expiresIn(60)), tcp(ACK), TC_ACT_OK, dnatTo(BE1),
                        tcpFlow(BE1, CtValue.ESTABLISHED, 80)),
                new Row("a refresh re-creates a missing reply entry from the original", Datapath.EGRESS,
                        ESTABLISHED.andThen(deleteReplyOf(BE1)).andThen(expiresIn(60)), tcp(ACK), TC_ACT_OK,
                        dnatTo(BE1), tcpFlow(BE1, CtValue.ESTABLISHED, 80)),
                new Row("... and the reply is translated again", Datapath.INGRESS,
                        ESTABLISHED.andThen(deleteReplyOf(BE1)).andThen(expiresIn(60))
                                .andThen(send(Datapath.EGRESS, tcp(ACK))),
                        tcpReply(BE1, ACK), TC_ACT_OK, REVERSE, tcpFlow(BE1, CtValue.ESTABLISHED, 80)),

                // validation of what an entry points at
                new Row("a recycled backend id (now another service's pod) never carries UDP there: it selects again",
                        Datapath.EGRESS, DNS.andThen(send(Datapath.EGRESS, UDP_OUT))
                                .andThen(f -> f.maps.backends().put(1, new BackendEntry(Ipv4.parse(OTHER_SERVICE_POD), 5353, 0, 7)))
                                .andThen(onlyNewBackend(2, BE2, 5353)),
                        UDP_OUT, TC_ACT_OK, dnatTo(BE2), udpFlow(BE2, CtValue.OTHER, 44)),
                new Row("a recycled backend id: established TCP keeps its stored backend, not the id's new one",
                        Datapath.EGRESS, ESTABLISHED
                                .andThen(f -> f.maps.backends().put(1, new BackendEntry(Ipv4.parse(OTHER_SERVICE_POD), 8080, 0, 7)))
                                .andThen(onlyNewBackend(1, BE2, 8080)),
                        tcp(ACK), TC_ACT_OK, dnatTo(BE1), tcpFlow(BE1, CtValue.ESTABLISHED, 80)),
                new Row("a recycled service id: the frontend recreated under another id makes UDP select again",
                        Datapath.EGRESS, DNS.andThen(send(Datapath.EGRESS, UDP_OUT))
                                .andThen(f -> f.service(5, VIP, 53, UDP, 0, active(BE2, 5353))),
                        UDP_OUT, TC_ACT_OK, dnatTo(BE2), udpFlow(BE2, CtValue.OTHER, 44)),
                new Row("an affinity entry naming a recycled backend id (another service's pod now) is ignored",
                        Datapath.EGRESS, web(active(BE1, 8080)).andThen(f -> {
                            f.maps.services().put(new SvcKey(Ipv4.parse(VIP), 80, TCP), new SvcValue(1, 1, 60, 0));
                            f.maps.backends().put(100, new BackendEntry(Ipv4.parse(OTHER_SERVICE_POD), 8080, 0, 7));
                            f.maps.affinity().put(new Structs.AffinityKey(1, Ipv4.parse(POD)),
                                    new Structs.AffinityValue(System.nanoTime(), 100));
                        }),
                        tcp(SYN), TC_ACT_OK, dnatTo(BE1), tcpFlow(BE1, CtValue.SYN_SENT, 11)),
                new Row("a removed backend keeps its established TCP flow", Datapath.EGRESS,
                        ESTABLISHED.andThen(f -> f.maps.backends().delete(1)).andThen(onlyNewBackend(1, BE2, 8080)),
                        tcp(ACK), TC_ACT_OK, dnatTo(BE1), tcpFlow(BE1, CtValue.ESTABLISHED, 80)),
                new Row("a removed backend's UDP flow moves to a live backend at its next datagram", Datapath.EGRESS,
                        DNS.andThen(send(Datapath.EGRESS, UDP_OUT)).andThen(f -> f.maps.backends().delete(1))
                                .andThen(onlyNewBackend(2, BE2, 5353)),
                        UDP_OUT, TC_ACT_OK, dnatTo(BE2), udpFlow(BE2, CtValue.OTHER, 44)),
                new Row("a not-ready backend (out of the slots, still present) keeps established TCP", Datapath.EGRESS,
                        ESTABLISHED.andThen(onlyNewBackend(1, BE2, 8080)), tcp(ACK), TC_ACT_OK, dnatTo(BE1),
                        tcpFlow(BE1, CtValue.ESTABLISHED, 80)),
                new Row("a terminating backend keeps established TCP", Datapath.EGRESS,
                        ESTABLISHED.andThen(f -> f.service(1, VIP, 80, TCP, 0, terminating(BE1, 8080), active(BE2, 8080)))
                                .andThen(f -> f.maps.backends().put(1, new BackendEntry(Ipv4.parse(BE1), 8080,
                                        BackendEntry.TERMINATING, 1))),
                        tcp(ACK), TC_ACT_OK, dnatTo(BE1), tcpFlow(BE1, CtValue.ESTABLISHED, 80)),
                new Row("a SYN reusing the tuple of a terminating backend selects again", Datapath.EGRESS,
                        ESTABLISHED.andThen(f -> f.service(1, VIP, 80, TCP, 0, terminating(BE1, 8080), active(BE2, 8080)))
                                .andThen(f -> f.maps.backends().put(1, new BackendEntry(Ipv4.parse(BE1), 8080,
                                        BackendEntry.TERMINATING, 1))),
                        tcp(SYN), TC_ACT_OK, dnatTo(BE2), tcpFlow(BE2, CtValue.SYN_SENT, 11)),
                new Row("a deleted Service keeps its established TCP flow", Datapath.EGRESS,
                        ESTABLISHED.andThen(f -> f.deleteFrontend(VIP, 80, TCP)),
                        tcp(ACK), TC_ACT_OK, dnatTo(BE1), tcpFlow(BE1, CtValue.ESTABLISHED, 80)),
                new Row("with the Service CIDR configured, a deleted Service inside it keeps its established TCP flow",
                        Datapath.EGRESS, ESTABLISHED.andThen(SERVICE_CIDR)
                                .andThen(f -> f.deleteFrontend(VIP, 80, TCP)),
                        tcp(ACK), TC_ACT_OK, dnatTo(BE1), tcpFlow(BE1, CtValue.ESTABLISHED, 80)),
                new Row("with the Service CIDR configured, TCP to an address outside it skips conntrack: not enilb's",
                        Datapath.EGRESS, SERVICE_CIDR.andThen(f -> f.maps.conntrack().put(
                                new CtKey(f.cookie(), Ipv4.parse(POD), Ipv4.parse(OUTSIDE), 40000, 80, TCP, CtKey.ORIGINAL),
                                new CtValue(System.nanoTime() + 100 * SEC, Ipv4.parse(BE1), 8080, CtValue.ESTABLISHED, 0, 1, 1))),
                        Packets.tcp(POD, 40000, OUTSIDE, 80, ACK, ""), TC_ACT_UNSPEC, UNTOUCHED, NOTHING),
                new Row("without it, such an entry is followed (every TCP packet to no frontend costs a lookup)",
                        Datapath.EGRESS, f -> f.maps.conntrack().put(
                                new CtKey(f.cookie(), Ipv4.parse(POD), Ipv4.parse(OUTSIDE), 40000, 80, TCP, CtKey.ORIGINAL),
                                new CtValue(System.nanoTime() + 100 * SEC, Ipv4.parse(BE1), 8080, CtValue.ESTABLISHED, 0, 1, 1)),
                        Packets.tcp(POD, 40000, OUTSIDE, 80, ACK, ""), TC_ACT_OK,
                        in -> Packets.rewrite(in, POD, 40000, BE1, 8080), NOTHING),
                new Row("a deleted Service takes no new connection: not enilb's", Datapath.EGRESS,
                        ESTABLISHED.andThen(f -> f.deleteFrontend(VIP, 80, TCP)),
                        Packets.tcp(POD, 40002, VIP, 80, SYN, ""), TC_ACT_UNSPEC, UNTOUCHED, NOTHING),

                // who may open flows, and room for them
                new Row("a new flow from a source the pod does not own is dropped and counted", Datapath.EGRESS, WEB,
                        Packets.tcp("198.18.0.77", 40000, VIP, 80, SYN, ""), TC_ACT_SHOT, UNTOUCHED,
                        dropped(Maps.DropReason.SPOOFED, 1).andThen(f -> assertThat(f.maps.conntrack().count()).isZero())),
                new Row("another pod's entry for the same tuple is not this pod's: its own flow is made", Datapath.EGRESS,
                        WEB.andThen(f -> f.maps.conntrack().put(
                                new CtKey(f.cookie() + 1, Ipv4.parse(POD), Ipv4.parse(VIP), 40000, 80, TCP, CtKey.ORIGINAL),
                                new CtValue(System.nanoTime() + 100 * SEC, Ipv4.parse(BE2), 8080, CtValue.ESTABLISHED, 0, 1, 1))),
                        tcp(ACK), TC_ACT_OK, dnatTo(BE1), tcpFlow(BE1, CtValue.ESTABLISHED, 80)),
                new Row("a table full of live flows refuses a new flow (counted), never evicting one", Datapath.EGRESS,
                        ESTABLISHED.andThen(ConntrackTableTest::fillWithLiveFlows), Packets.tcp(POD, 40002, VIP, 80, SYN, ""),
                        TC_ACT_SHOT, UNTOUCHED, dropped(Maps.DropReason.CT_FULL, 1).andThen(tcpFlow(BE1, CtValue.ESTABLISHED, 80))),
                new Row("a table full of live flows still carries the established ones, state changes included",
                        Datapath.EGRESS, ESTABLISHED.andThen(ConntrackTableTest::fillWithLiveFlows), tcp(FIN | ACK),
                        TC_ACT_OK, dnatTo(BE1), tcpFlow(BE1, CtValue.CLOSING, 3).andThen(dropped(Maps.DropReason.CT_FULL, 0))));
    }

    /** Fills the conntrack table to max_entries with live entries of other flows. */
    static void fillWithLiveFlows(DatapathFixture f) {
        int room = f.maps.conntrack().maxEntries() - (int) f.maps.conntrack().count();
        List<Map.Entry<CtKey, CtValue>> filler = new ArrayList<>(room);
        long until = System.nanoTime() + 3600 * SEC;
        for (int i = 0; i < room; i++) {
            filler.add(Map.entry(new CtKey(f.cookie(), Ipv4.parse("198.18.1.0") + i, Ipv4.parse(VIP), 1000, 80, TCP,
                    CtKey.ORIGINAL), new CtValue(until, Ipv4.parse(BE1), 8080, CtValue.ESTABLISHED, 0, 1, 1)));
        }
        f.maps.conntrack().putAll(filler);
        assertThat(f.maps.conntrack().count()).isEqualTo(f.maps.conntrack().maxEntries());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("rows")
    void row(Row row) {
        row.setup.accept(dp);
        BpfProgram.TestRun run = dp.datapath.program(row.program).testRun(row.in, 1);
        assertThat(run.verdict()).as("verdict").isEqualTo(row.verdict);
        assertThat(Packets.hex(run.packet())).as("packet out").isEqualTo(Packets.hex(row.out.apply(row.in)));
        assertThat(Packets.checksumsValid(run.packet())).as("checksums of the packet out").isTrue();
        row.after.accept(dp);
    }
}
