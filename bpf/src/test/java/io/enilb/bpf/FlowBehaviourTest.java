package io.enilb.bpf;

import static io.enilb.bpf.DatapathFixture.Be.active;
import static io.enilb.bpf.Packets.ACK;
import static io.enilb.bpf.Packets.SYN;
import static io.enilb.bpf.Packets.TCP;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import io.enilb.bpf.Structs.AffinityKey;
import io.enilb.bpf.Structs.AffinityValue;
import io.enilb.bpf.Structs.BackendEntry;
import io.enilb.bpf.Structs.SlotKey;
import io.enilb.bpf.Structs.SlotValue;
import io.enilb.bpf.Structs.SvcKey;
import io.enilb.bpf.Structs.SvcStats;
import io.enilb.bpf.Structs.SvcValue;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Behaviour across packets: conntrack, backend selection, terminating backends, affinity, counters, pins. */
@org.junit.jupiter.api.Tag("kernel") // root, BPF and network namespaces: left out by -DexcludedGroups=kernel
class FlowBehaviourTest {
    static final String POD = PacketTableTest.POD;
    static final String VIP = PacketTableTest.VIP;
    static final String BE1 = PacketTableTest.BE1;
    static final String BE2 = "198.18.0.22";
    static final String BE3 = "198.18.0.23";

    private DatapathFixture dp;

    @BeforeEach
    void load() {
        dp = new DatapathFixture().podOwns(POD);
    }

    @AfterEach
    void unload() {
        if (dp != null) {
            dp.close();
        }
    }

    private String backendOf(int sport, int flags) {
        byte[] out = dp.egress().testRun(Packets.tcp(POD, sport, VIP, 80, flags, ""), 1).packet();
        return Packets.daddr(out);
    }

    @Test
    void newFlowsSpreadOverAllActiveBackends() {
        dp.service(1, VIP, 80, TCP, 0, active(BE1, 80), active(BE2, 80), active(BE3, 80));
        Map<String, Integer> hits = new java.util.HashMap<>();
        for (int port = 20000; port < 20300; port++) {
            hits.merge(backendOf(port, SYN), 1, Integer::sum);
        }
        assertThat(hits.keySet()).containsExactlyInAnyOrder(BE1, BE2, BE3);
        assertThat(hits.values()).allSatisfy(n -> assertThat(n).isGreaterThan(50));
    }

    @Test
    void anEstablishedFlowKeepsItsBackendWhenTheBackendSetChanges() {
        List<Integer> ids = dp.service(1, VIP, 80, TCP, 0, active(BE1, 80), active(BE2, 80));
        String first = backendOf(30000, SYN);
        int keep = first.equals(BE1) ? ids.get(0) : ids.get(1);
        int other = first.equals(BE1) ? ids.get(1) : ids.get(0);
        // the other backend alone takes new flows now; the flow's backend still exists
        dp.maps.slots().put(new SlotKey(1, 0), new SlotValue(other));
        dp.maps.services().put(new SvcKey(Ipv4.parse(VIP), 80, TCP), new SvcValue(1, 1, 0, 0));
        for (int i = 0; i < 20; i++) {
            assertThat(backendOf(30000, ACK)).isEqualTo(first);
        }
        assertThat(backendOf(30001, SYN)).isNotEqualTo(first);
        // once the backend is gone, established TCP keeps its address (kube-proxy keeps its conntrack entry)
        dp.maps.backends().delete(keep);
        assertThat(backendOf(30000, ACK)).isEqualTo(first);
    }

    @Test
    void aTerminatingBackendKeepsEstablishedFlowsAndTakesNoNewOnes() {
        List<Integer> ids = dp.service(1, VIP, 80, TCP, 0, active(BE1, 80));
        assertThat(backendOf(31000, SYN)).isEqualTo(BE1);
        // BE1 terminates, BE2 arrives
        int be2 = 100;
        dp.maps.backends().put(be2, new BackendEntry(Ipv4.parse(BE2), 80, 0, 1));
        dp.maps.slots().put(new SlotKey(1, 0), new SlotValue(be2));
        dp.maps.backends().put(ids.get(0), new BackendEntry(Ipv4.parse(BE1), 80, BackendEntry.TERMINATING, 1));
        assertThat(backendOf(31000, ACK)).as("established flow").isEqualTo(BE1);
        assertThat(backendOf(31001, SYN)).as("new flow").isEqualTo(BE2);
        assertThat(backendOf(31000, SYN)).as("a new connection reusing the tuple").isEqualTo(BE2);
    }

    @Test
    void clientIpAffinityKeepsAClientOnOneBackendUntilTheTimeout() {
        dp.service(1, VIP, 80, TCP, 60, active(BE1, 80), active(BE2, 80), active(BE3, 80));
        String first = backendOf(32000, SYN);
        for (int port = 32001; port < 32050; port++) {
            assertThat(backendOf(port, SYN)).isEqualTo(first);
        }
        // age the affinity entry past its timeout: selection is random again
        AffinityKey key = new AffinityKey(1, Ipv4.parse(POD));
        AffinityValue v = dp.maps.affinity().get(key).orElseThrow();
        Set<String> seen = new HashSet<>();
        for (int port = 32100; port < 32200; port++) {
            dp.maps.affinity().put(key, new AffinityValue(v.lastUsedNs() - 61_000_000_000L, v.backendId()));
            seen.add(backendOf(port, SYN));
        }
        assertThat(seen).hasSizeGreaterThan(1);
    }

    @Test
    void countersCountPacketsBytesNewFlowsAndRejects() {
        dp.service(1, VIP, 80, TCP, 0, active(BE1, 80));
        dp.service(2, VIP, 81, TCP, 0);
        byte[] syn = Packets.tcp(POD, 33000, VIP, 80, SYN, "");
        dp.egress().testRun(syn, 1);
        dp.egress().testRun(Packets.tcp(POD, 33000, VIP, 80, ACK, ""), 1);
        dp.egress().testRun(Packets.tcp(POD, 33001, VIP, 81, SYN, ""), 1);
        assertThat(dp.maps.stats(1)).isEqualTo(new SvcStats(2, 2L * syn.length, 1));
        assertThat(dp.maps.dropped(Maps.DropReason.NO_BACKEND)).isEqualTo(1);
    }

    @Test
    void aLoaderThatStartsAgainReusesThePinnedMapsAndTheirFlows() {
        dp.service(1, VIP, 80, TCP, 0, active(BE1, 80), active(BE2, 80));
        String first = backendOf(34000, SYN);
        java.nio.file.Path pins = dp.pinRoot;
        dp.datapath.close();
        try (Datapath again = Datapath.load(TestObjects.bpfObject(), pins, Map.of())) {
            byte[] out = again.program(Datapath.EGRESS).testRun(Packets.tcp(POD, 34000, VIP, 80, ACK, ""), 1).packet();
            assertThat(Packets.daddr(out)).isEqualTo(first);
            assertThat(again.maps().services().entries()).hasSize(1);
        }
    }

    @Test
    void aPinnedMapOfAnotherSizeIsAClearError() {
        assertThatThrownBy(() -> Datapath.load(TestObjects.bpfObject(), dp.pinRoot,
                Map.of(BpfObject.MapNames.CONNTRACK, 4096)))
                .isInstanceOf(BpfException.class)
                .hasMessageContaining("enilb_ct4_v2")
                .hasMessageContaining("8192 entries, 4096 are configured");
    }

    @Test
    void aFullMapSaysE2big() {
        try (DatapathFixture small = new DatapathFixture(Map.of(BpfObject.MapNames.SERVICES, 2))) {
            small.maps.services().put(new SvcKey(1, 1, TCP), new SvcValue(1, 0, 0, 0));
            small.maps.services().put(new SvcKey(1, 2, TCP), new SvcValue(2, 0, 0, 0));
            assertThatThrownBy(() -> small.maps.services().put(new SvcKey(1, 3, TCP), new SvcValue(3, 0, 0, 0)))
                    .isInstanceOf(BpfException.class).hasMessageContaining("E2BIG");
        }
    }

    @Test
    void batchesWriteReadAndDeleteManyEntries() {
        List<Map.Entry<Integer, BackendEntry>> batch = new java.util.ArrayList<>();
        for (int i = 1; i <= 3000; i++) {
            batch.add(Map.entry(i, new BackendEntry(0xc6120000 + i, 80, 0, 1)));
        }
        dp.maps.backends().putAll(batch);
        assertThat(dp.maps.backends().entries()).hasSize(3000).containsEntry(7, new BackendEntry(0xc6120007, 80, 0, 1));
        List<Integer> gone = new java.util.ArrayList<>(List.of(99999));
        for (int i = 1; i <= 1500; i++) {
            gone.add(i);
        }
        assertThat(dp.maps.backends().deleteAll(gone)).isEqualTo(1500);
        assertThat(dp.maps.backends().entries()).hasSize(1500);
    }
}
