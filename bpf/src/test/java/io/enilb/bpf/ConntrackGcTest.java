package io.enilb.bpf;

import static io.enilb.bpf.Packets.TCP;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import io.enilb.bpf.ConntrackGc.GcResult;
import io.enilb.bpf.Structs.CtKey;
import io.enilb.bpf.Structs.CtValue;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The conntrack GC on the kernel map: what it removes, what it keeps, and a refresh racing it. */
@org.junit.jupiter.api.Tag("kernel") // root, BPF and network namespaces: left out by -DexcludedGroups=kernel
class ConntrackGcTest {
    private static final long SEC = 1_000_000_000L;
    private DatapathFixture dp;

    @BeforeEach
    void load() {
        dp = new DatapathFixture();
    }

    @AfterEach
    void unload() {
        dp.close();
    }

    private static CtKey key(int i) {
        return new CtKey(42, Ipv4.parse("198.18.0.0") + i, Ipv4.parse("198.19.0.1"), 1000 + i, 80, TCP, CtKey.ORIGINAL);
    }

    private static CtValue expiring(long at) {
        return new CtValue(at, Ipv4.parse("198.18.0.21"), 8080, CtValue.ESTABLISHED, 0, 1, 1);
    }

    /** n entries expired a second ago (even i) and n live for an hour (odd i). */
    private void fill(int n) {
        long now = System.nanoTime();
        List<Map.Entry<CtKey, CtValue>> entries = new ArrayList<>();
        for (int i = 0; i < 2 * n; i++) {
            entries.add(Map.entry(key(i), expiring(i % 2 == 0 ? now - SEC : now + 3600 * SEC)));
        }
        dp.maps.conntrack().putAll(entries);
    }

    @Test
    void removesExpiredEntriesAndKeepsLiveOnes() {
        fill(3000);
        GcResult r = dp.datapath.conntrackGc().sweep(System.nanoTime());
        assertThat(r.scanned()).isEqualTo(6000);
        assertThat(r.removed()).isEqualTo(3000);
        assertThat(r.live()).isEqualTo(3000);
        assertThat(r.capacity()).isEqualTo(dp.maps.conntrack().maxEntries());
        assertThat(r.pressure()).isEqualTo(3000.0 / r.capacity());
        Map<CtKey, CtValue> left = dp.maps.conntrack().entries();
        assertThat(left).hasSize(3000);
        assertThat(left.keySet()).allSatisfy(k -> assertThat((k.saddr() - Ipv4.parse("198.18.0.0")) % 2).isOne());
        assertThat(dp.datapath.conntrackGc().sweep(System.nanoTime()).removed()).as("a second pass").isZero();
    }

    @Test
    void anEntryRefreshedBetweenTheWalkAndTheDeleteStays() {
        fill(10);
        long now = System.nanoTime();
        CtKey refreshed = key(4);
        GcResult r = dp.datapath.conntrackGc().sweep(now, () ->
                dp.maps.conntrack().put(refreshed, expiring(now + 60 * SEC)));
        assertThat(r.removed()).isEqualTo(9);
        assertThat(r.live()).isEqualTo(11);
        assertThat(dp.maps.conntrack().get(refreshed)).isPresent();
    }

    @Test
    void theSameSweepRunsOnAnInMemoryMap() {
        InMemoryMap<CtKey, CtValue> map = new InMemoryMap<>("ct", 100);
        long now = System.nanoTime();
        for (int i = 0; i < 10; i++) {
            map.put(key(i), expiring(i < 4 ? now - SEC : now + 60 * SEC));
        }
        GcResult r = ConntrackGc.v4(map).sweep(now);
        assertThat(r.scanned()).isEqualTo(10);
        assertThat(r.removed()).isEqualTo(4);
        assertThat(r.live()).isEqualTo(6);
        assertThat(r.capacity()).isEqualTo(100);
        assertThat(map.count()).isEqualTo(6);
    }

    @Test
    void aFlowTheDatapathMadeIsCollectedOnceItsLifetimeIsOver() {
        dp.podOwns(PacketTableTest.POD);
        dp.service(1, PacketTableTest.VIP, 80, TCP, 0, DatapathFixture.Be.active(PacketTableTest.BE1, 8080));
        dp.egress().testRun(Packets.tcp(PacketTableTest.POD, 40000, PacketTableTest.VIP, 80, Packets.SYN, ""), 1);
        assertThat(dp.maps.conntrack().count()).isEqualTo(2);
        assertThat(dp.datapath.conntrackGc().sweep(System.nanoTime()).removed()).as("now: alive").isZero();
        // a minute later, without traffic, the SYN_SENT flow (60 s) has expired ...
        GcResult later = dp.datapath.conntrackGc().sweep(System.nanoTime() + 61 * SEC);
        assertThat(later.removed()).isEqualTo(2);
        assertThat(dp.maps.conntrack().count()).isZero();
    }
}
