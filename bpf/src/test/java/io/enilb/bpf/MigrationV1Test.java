package io.enilb.bpf;

import static io.enilb.bpf.PacketTableTest.BE1;
import static io.enilb.bpf.PacketTableTest.POD;
import static io.enilb.bpf.PacketTableTest.TC_ACT_OK;
import static io.enilb.bpf.PacketTableTest.VIP;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.OptionalLong;
import java.util.stream.Stream;

import io.enilb.bpf.MigrationV1.BackendV1;
import io.enilb.bpf.MigrationV1.CtKeyV1;
import io.enilb.bpf.MigrationV1.CtValueV1;
import io.enilb.bpf.Structs.CtConfig;
import io.enilb.bpf.Structs.CtKey;
import io.enilb.bpf.Structs.CtValue;
import io.enilb.bpf.Structs.RevNatValue;
import io.enilb.bpf.Structs.SlotKey;
import io.enilb.bpf.Structs.SlotValue;
import io.enilb.bpf.Structs.SvcKey;
import io.enilb.bpf.Structs.SvcValue;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The upgrade from v1 pins on kernel maps: the released v1 object (test resource, see its
 * README) makes real v1 flows, the migration copies them, the v2 programs carry them on, and
 * the v1 pins go.
 */
@org.junit.jupiter.api.Tag("kernel") // root, BPF and network namespaces: left out by -DexcludedGroups=kernel
class MigrationV1Test {
    private static final String STRANGER = "198.18.0.66";
    private static final Path V1_OBJECT = Path.of("src/test/resources/v1/enilb-v1.bpf.o").toAbsolutePath();

    private DatapathFixture dp;
    private Path v1Programs;

    @BeforeEach
    void loadBothVersions() {
        dp = new DatapathFixture().podOwns(POD);
        v1Programs = dp.pinRoot.resolve("v1-programs");
        TcCoexistenceTest.run("bpftool", "prog", "loadall", V1_OBJECT.toString(), v1Programs.toString(),
                "type", "classifier", "pinmaps", dp.pinRoot.toString());
    }

    @AfterEach
    void unload() throws IOException {
        if (v1Programs != null && Files.exists(v1Programs)) {
            try (Stream<Path> pins = Files.walk(v1Programs)) {
                for (Path p : pins.sorted(Comparator.reverseOrder()).toList()) {
                    Files.delete(p);
                }
            }
        }
        MigrationV1.removeV1Pins(dp.pinRoot);
        dp.close();
    }

    private <K, V> BpfMap<K, V> v1(String name, StructCodec<K> keys, StructCodec<V> values) {
        return BpfMap.openPinned(dp.pinRoot.resolve(name), keys, values);
    }

    /** v1's egress program, as the pods still run it during an upgrade. */
    private BpfProgram v1Egress() {
        Bpf bpf = Bpf.get();
        return new BpfProgram("enilb_egress", bpf.check(bpf.lib.bpf_obj_get(v1Programs.resolve("enilb_egress").toString()),
                "bpf_obj_get v1 egress"));
    }

    @Test
    void liveV1FlowsKeepWorkingOnV2AndTheV1PinsGo() {
        try (BpfMap<SvcKey, SvcValue> svc = v1("enilb_svc4_v1", SvcKey.CODEC, SvcValue.CODEC);
             BpfMap<SlotKey, SlotValue> slots = v1("enilb_slot4_v1", SlotKey.CODEC, SlotValue.CODEC);
             BpfMap<Integer, BackendV1> backends = v1("enilb_be4_v1", StructCodec.U32, BackendV1.CODEC);
             BpfMap<Integer, RevNatValue> revNat = v1("enilb_rnat4_v1", StructCodec.U32, RevNatValue.CODEC);
             BpfMap<CtKeyV1, CtValueV1> ct = v1("enilb_ct4_v1", CtKeyV1.CODEC, CtValueV1.CODEC)) {
            backends.put(1, new BackendV1(Ipv4.parse(BE1), 8080, 0));
            slots.put(new SlotKey(1, 0), new SlotValue(1));
            revNat.put(1, new RevNatValue(Ipv4.parse(VIP), 80));
            svc.put(new SvcKey(Ipv4.parse(VIP), 80, Packets.TCP), new SvcValue(1, 1, 0, 0));
            backends.put(2, new BackendV1(Ipv4.parse(BE1), 5353, 0));
            slots.put(new SlotKey(2, 0), new SlotValue(2));
            revNat.put(2, new RevNatValue(Ipv4.parse(VIP), 53));
            svc.put(new SvcKey(Ipv4.parse(VIP), 53, Packets.UDP), new SvcValue(2, 1, 0, 0));

            BpfProgram egress = v1Egress();
            assertThat(egress.testRun(Packets.tcp(POD, 40000, VIP, 80, Packets.SYN, ""), 1).verdict()).isEqualTo(TC_ACT_OK);
            assertThat(egress.testRun(Packets.udp(POD, 40001, VIP, 53, "q", false), 1).verdict()).isEqualTo(TC_ACT_OK);
            egress.testRun(Packets.tcp(POD, 40002, VIP, 80, Packets.SYN, ""), 1);
            egress.testRun(Packets.tcp(STRANGER, 40003, VIP, 80, Packets.SYN, ""), 1);
            // the LRU evicted one flow's original entry: its reply entry alone must do
            ct.delete(new CtKeyV1(Ipv4.parse(POD), Ipv4.parse(VIP), 40002, 80, Packets.TCP, CtKey.ORIGINAL));
            assertThat(ct.count()).isEqualTo(7);
        }

        long now = System.nanoTime();
        long cookie = dp.cookie();
        MigrationV1.Result r = MigrationV1.migrate(dp.pinRoot, dp.maps,
                addr -> addr == Ipv4.parse(POD) ? OptionalLong.of(cookie) : OptionalLong.empty(), CtConfig.DEFAULTS, now);
        assertThat(r).isEqualTo(new MigrationV1.Result(7, 3, 1, 0));
        CtValue tcp = dp.maps.conntrack().get(new CtKey(cookie, Ipv4.parse(POD), Ipv4.parse(VIP), 40000, 80, Packets.TCP,
                CtKey.ORIGINAL)).orElseThrow();
        assertThat(tcp.state()).isEqualTo(CtValue.ESTABLISHED);
        assertThat(tcp.natAddr()).isEqualTo(Ipv4.parse(BE1));
        assertThat(tcp.expiresNs()).isEqualTo(now + MigrationV1.DEFAULT_ESTABLISHED_NS);
        assertThat(dp.maps.conntrack().get(new CtKey(cookie, Ipv4.parse(BE1), Ipv4.parse(POD), 5353, 40001, Packets.UDP,
                CtKey.REPLY)).orElseThrow()).satisfies(v -> {
                    assertThat(v.state()).isEqualTo(CtValue.OTHER);
                    assertThat(v.natAddr()).isEqualTo(Ipv4.parse(VIP));
                    assertThat(v.natPort()).isEqualTo(53);
                });

        // the v2 programs take over before the nat-map writer wrote any v2 frontend
        MigrationV1.removeV1Pins(dp.pinRoot);
        assertThat(MigrationV1.present(dp.pinRoot)).isFalse();
        for (int port : new int[] {40000, 40002}) {
            byte[] ack = Packets.tcp(POD, port, VIP, 80, Packets.ACK, "more");
            BpfProgram.TestRun out = dp.egress().testRun(ack, 1);
            assertThat(out.verdict()).as("established flow from port %d", port).isEqualTo(TC_ACT_OK);
            assertThat(Packets.hex(out.packet())).isEqualTo(Packets.hex(Packets.rewrite(ack, POD, port, BE1, 8080)));
            byte[] reply = Packets.tcp(BE1, 8080, POD, port, Packets.ACK, "answer");
            BpfProgram.TestRun back = dp.ingress().testRun(reply, 1);
            assertThat(back.verdict()).isEqualTo(TC_ACT_OK);
            assertThat(Packets.hex(back.packet())).isEqualTo(Packets.hex(Packets.rewrite(reply, VIP, 80, POD, port)));
        }
    }
}
