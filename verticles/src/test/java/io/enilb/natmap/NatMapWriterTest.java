package io.enilb.natmap;

import static io.enilb.natmap.Fixtures.active;
import static io.enilb.natmap.Fixtures.assertMapsMatch;
import static io.enilb.natmap.Fixtures.delete;
import static io.enilb.natmap.Fixtures.frontend;
import static io.enilb.natmap.Fixtures.svc;
import static io.enilb.natmap.Fixtures.tcp;
import static io.enilb.natmap.Fixtures.terminating;
import static io.enilb.natmap.Fixtures.udp;
import static io.enilb.natmap.Fixtures.upsert;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.enilb.bpf.InMemoryMap;
import io.enilb.bpf.Ipv4;
import io.enilb.bpf.KeyValueMap;
import io.enilb.bpf.Structs.BackendEntry;
import io.enilb.bpf.Structs.RevNatValue;
import io.enilb.bpf.Structs.SlotKey;
import io.enilb.bpf.Structs.SlotValue;
import io.enilb.bpf.Structs.SvcKey;
import io.enilb.bpf.Structs.SvcValue;
import io.enilb.bpf.Structs.VipKey;
import io.enilb.bpf.Structs.VipValue;
import io.enilb.model.NormalizedService;
import io.enilb.model.Protocol;
import io.enilb.natmap.WritePhases.Step;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class NatMapWriterTest {
    private final NatMaps maps = NatMaps.inMemory(16, 64);
    private final NatMapWriter writer = new NatMapWriter(maps);

    @Test
    void writesFrontendSlotsBackendsAndRevNat() {
        NormalizedService web = svc("web", "10.96.0.10", 30,
                tcp(80, active("10.0.0.1", 8080), terminating("10.0.0.2", 8080), active("10.0.0.3", 8080)),
                udp(53, active("10.0.0.1", 53)));
        writer.apply(upsert(web));

        SvcKey fk = frontend("10.96.0.10", 80, Protocol.TCP);
        SvcValue v = maps.services().get(fk).orElseThrow();
        assertThat(v.active()).isEqualTo(2);
        assertThat(v.affinityTimeout()).isEqualTo(30);
        int b1 = writer.backendId(fk, Ipv4.parse("10.0.0.1"), 8080).getAsInt();
        int b2 = writer.backendId(fk, Ipv4.parse("10.0.0.2"), 8080).getAsInt();
        int b3 = writer.backendId(fk, Ipv4.parse("10.0.0.3"), 8080).getAsInt();
        assertThat(maps.slots().get(new SlotKey(v.svcId(), 0))).contains(new SlotValue(b1));
        assertThat(maps.slots().get(new SlotKey(v.svcId(), 1))).contains(new SlotValue(b3));
        assertThat(maps.backends().get(b2).orElseThrow().terminating()).isTrue();
        assertThat(maps.revNat().get(v.svcId())).contains(new RevNatValue(Ipv4.parse("10.96.0.10"), 80));
        assertThat(writer.frontendsProgrammed()).isEqualTo(2);
        assertThat(writer.backendsProgrammed()).isEqualTo(4);
        assertThat(writer.failures()).isEmpty();
        assertMapsMatch(maps, writer, List.of(web));
    }

    @Test
    void theAddressMapHoldsEveryClusterIpWithAFrontendAndNoOther() {
        writer.apply(upsert(svc("web", "10.96.0.10", 0, tcp(80, active("10.0.0.1", 8080)), udp(53, active("10.0.0.1", 53))),
                svc("db", "10.96.0.20", 0, tcp(5432, active("10.0.0.2", 5432)))));
        assertThat(maps.clusterIps().entries()).containsOnly(
                Map.entry(new VipKey(Ipv4.parse("10.96.0.10")), new VipValue(2)),
                Map.entry(new VipKey(Ipv4.parse("10.96.0.20")), new VipValue(1)));
        writer.apply(upsert(svc("web", "10.96.0.10", 0, tcp(80, active("10.0.0.1", 8080)))));
        assertThat(maps.clusterIps().get(new VipKey(Ipv4.parse("10.96.0.10")))).contains(new VipValue(1));
        writer.apply(delete("web"));
        assertThat(maps.clusterIps().entries()).containsOnlyKeys(new VipKey(Ipv4.parse("10.96.0.20")));

        // a restarted writer removes an address whose frontends went away while it was down
        maps.clusterIps().put(new VipKey(Ipv4.parse("10.96.0.99")), new VipValue(1));
        NatMapWriter restarted = new NatMapWriter(maps);
        restarted.restore();
        assertThat(maps.clusterIps().entries()).containsOnlyKeys(new VipKey(Ipv4.parse("10.96.0.20")));
    }

    @Test
    void backendIdsArePerFrontendAndStable() {
        writer.apply(upsert(svc("a", "10.96.0.1", 0, tcp(80, active("10.0.0.1", 80)), tcp(81, active("10.0.0.1", 80)))));
        SvcKey f80 = frontend("10.96.0.1", 80, Protocol.TCP);
        SvcKey f81 = frontend("10.96.0.1", 81, Protocol.TCP);
        int id80 = writer.backendId(f80, Ipv4.parse("10.0.0.1"), 80).getAsInt();
        assertThat(writer.backendId(f81, Ipv4.parse("10.0.0.1"), 80).getAsInt()).isNotEqualTo(id80);

        NormalizedService grown = svc("a", "10.96.0.1", 0,
                tcp(80, active("10.0.0.0", 80), active("10.0.0.1", 80)), tcp(81, active("10.0.0.1", 80)));
        writer.apply(upsert(grown));
        assertThat(writer.backendId(f80, Ipv4.parse("10.0.0.1"), 80)).hasValue(id80);
        assertMapsMatch(maps, writer, List.of(grown));
    }

    @Test
    void unchangedStateWritesNothingAndChangesWriteOnlyTheDifference() {
        NormalizedService web = svc("web", "10.96.0.10", 0, tcp(80, active("10.0.0.1", 80), active("10.0.0.2", 80)));
        writer.apply(upsert(web));
        writer.apply(upsert(web));
        assertThat(writer.lastBatch()).isEqualTo(NatMapWriter.BatchSizes.NONE);

        NormalizedService one = svc("web", "10.96.0.10", 0, tcp(80, active("10.0.0.2", 80)));
        writer.apply(upsert(one));
        NatMapWriter.BatchSizes b = writer.lastBatch();
        assertThat(b.count(Step.BACKEND_WRITES)).isZero();
        assertThat(b.count(Step.SLOT_WRITES)).isEqualTo(1);
        assertThat(b.count(Step.SERVICE_WRITES)).isEqualTo(1);
        assertThat(b.count(Step.SLOT_DELETES)).isEqualTo(1);
        assertThat(b.count(Step.BACKEND_DELETES)).isEqualTo(1);
        assertThat(b.count(Step.REVNAT_WRITES)).isZero();
        assertMapsMatch(maps, writer, List.of(one));
    }

    @Test
    void terminatingBackendLosesItsSlotButStays() {
        writer.apply(upsert(svc("web", "10.96.0.10", 0, tcp(80, active("10.0.0.1", 80), active("10.0.0.2", 80)))));
        NormalizedService draining = svc("web", "10.96.0.10", 0, tcp(80, terminating("10.0.0.1", 80), active("10.0.0.2", 80)));
        writer.apply(upsert(draining));
        assertThat(writer.lastBatch().count(Step.BACKEND_WRITES)).isEqualTo(1);
        assertThat(writer.lastBatch().count(Step.SLOT_DELETES)).isEqualTo(1);
        assertMapsMatch(maps, writer, List.of(draining));
    }

    @Test
    void deletedServiceLeavesNothingAndItsIdsAreNotHandedOutAgainAtOnce() {
        writer.apply(upsert(svc("web", "10.96.0.10", 0, tcp(80, active("10.0.0.1", 80), terminating("10.0.0.2", 80)))));
        writer.apply(delete("web"));
        assertThat(maps.services().entries()).isEmpty();
        assertThat(maps.slots().entries()).isEmpty();
        assertThat(maps.backends().entries()).isEmpty();
        assertThat(maps.revNat().entries()).isEmpty();
        assertThat(writer.frontendsProgrammed()).isZero();
        assertThat(writer.backendsProgrammed()).isZero();

        // rolling ids: conntrack and affinity entries may still name web's ids 1 (service) and 1, 2 (backends)
        NormalizedService other = svc("other", "10.96.0.11", 0, tcp(80, active("10.0.0.3", 80)));
        writer.apply(upsert(other));
        assertThat(writer.serviceId(frontend("10.96.0.11", 80, Protocol.TCP))).hasValue(2);
        assertThat(writer.backendId(frontend("10.96.0.11", 80, Protocol.TCP), Ipv4.parse("10.0.0.3"), 80)).hasValue(3);
        assertMapsMatch(maps, writer, List.of(other));
    }

    @Test
    void serviceIdsRollOverSkippingIdsInUseAndEachNewIdStartsWithZeroedCounters() {
        List<Integer> zeroed = new ArrayList<>();
        NatMaps small = NatMaps.inMemory(4, 64, zeroed::add); // service ids 1..3
        NatMapWriter w = new NatMapWriter(small);
        NormalizedService a = svc("a", "10.96.0.1", 0, tcp(80, active("10.0.0.1", 80)));
        NormalizedService b = svc("b", "10.96.0.2", 0, tcp(80, active("10.0.0.2", 80)));
        NormalizedService c = svc("c", "10.96.0.3", 0, tcp(80, active("10.0.0.3", 80)));
        NormalizedService d = svc("d", "10.96.0.4", 0, tcp(80, active("10.0.0.4", 80)));
        w.apply(upsert(a));
        w.apply(upsert(b));
        w.apply(upsert(c));
        w.apply(delete("b"));
        w.apply(delete("a"));
        w.apply(upsert(d));
        // after 3 the range wraps to 1 (free again); 2 would come next, 3 is in use
        assertThat(w.serviceId(frontend("10.96.0.4", 80, Protocol.TCP))).hasValue(1);
        w.apply(upsert(a));
        assertThat(w.serviceId(frontend("10.96.0.1", 80, Protocol.TCP))).hasValue(2);
        assertThat(zeroed).containsExactly(1, 2, 3, 1, 2);
        assertMapsMatch(small, w, List.of(c, d, a));
    }

    @Test
    void aRestartContinuesAfterTheHighestIdsInTheMaps() {
        writer.apply(upsert(svc("a", "10.96.0.1", 0, tcp(80, active("10.0.0.1", 80)))));
        writer.apply(upsert(svc("b", "10.96.0.2", 0, tcp(80, active("10.0.0.2", 80)))));
        NormalizedService c = svc("c", "10.96.0.3", 0, tcp(80, active("10.0.0.3", 80)));
        writer.apply(upsert(c));
        writer.apply(delete("b"));
        writer.apply(delete("a"));

        NatMapWriter restarted = new NatMapWriter(maps);
        restarted.restore();
        NormalizedService d = svc("d", "10.96.0.4", 0, tcp(80, active("10.0.0.4", 80)));
        restarted.apply(upsert(c, d));
        // c holds service id 3 and backend id 3: the lower free ids 1 and 2 are skipped
        assertThat(restarted.serviceId(frontend("10.96.0.4", 80, Protocol.TCP))).hasValue(4);
        assertThat(restarted.backendId(frontend("10.96.0.4", 80, Protocol.TCP), Ipv4.parse("10.0.0.4"), 80)).hasValue(4);
        assertMapsMatch(maps, restarted, List.of(c, d));
    }

    @Test
    void writesAreMakeBeforeBreak() {
        List<String> log = new ArrayList<>();
        NatMaps recorded = new NatMaps(new RecordingMap<>(maps.services(), log), new RecordingMap<>(maps.slots(), log),
                new RecordingMap<>(maps.backends(), log), new RecordingMap<>(maps.revNat(), log),
                new RecordingMap<>(maps.clusterIps(), log), maps.counters());
        NatMapWriter w = new NatMapWriter(recorded);
        w.apply(upsert(svc("web", "10.96.0.10", 0, tcp(80, active("10.0.0.1", 80), active("10.0.0.2", 80)))));
        assertThat(log).containsExactly("put enilb_be4_v2", "put enilb_slot4_v2", "put enilb_rnat4_v2", "put enilb_svc4_v2",
                "put enilb_vip4_v2");
        log.clear();
        w.apply(upsert(svc("web", "10.96.0.10", 0, tcp(80, active("10.0.0.3", 80)))));
        assertThat(log).containsExactly("put enilb_be4_v2", "put enilb_slot4_v2", "put enilb_svc4_v2",
                "delete enilb_slot4_v2", "delete enilb_be4_v2");
        log.clear();
        w.apply(delete("web"));
        assertThat(log).containsExactly("delete enilb_svc4_v2", "delete enilb_slot4_v2", "delete enilb_be4_v2",
                "delete enilb_rnat4_v2", "delete enilb_vip4_v2");
    }

    @Test
    void fullServiceMapFailsOnlyTheFrontendsThatDoNotFit() {
        NatMaps small = NatMaps.inMemory(3, 64); // service ids 1..2
        NatMapWriter w = new NatMapWriter(small);
        NormalizedService a = svc("a", "10.96.0.1", 0, tcp(80, active("10.0.0.1", 80)));
        NormalizedService b = svc("b", "10.96.0.2", 0, tcp(80, active("10.0.0.2", 80)));
        NormalizedService c = svc("c", "10.96.0.3", 0, tcp(80, active("10.0.0.3", 80)), tcp(81, active("10.0.0.4", 80)));
        w.apply(upsert(a, b));
        w.apply(upsert(c));

        assertThat(w.failures()).containsOnlyKeys(frontend("10.96.0.3", 80, Protocol.TCP), frontend("10.96.0.3", 81, Protocol.TCP));
        assertThat(w.failures().values()).allSatisfy(r -> assertThat(r).contains("no free service id"));
        assertMapsMatch(small, w, List.of(a, b));

        w.apply(delete("a"));
        // a's id is free only once its entries are gone: the failed frontends retry on the next apply
        w.apply(List.of());
        assertThat(w.failures()).containsOnlyKeys(frontend("10.96.0.3", 81, Protocol.TCP));
        assertThat(w.frontendsProgrammed()).isEqualTo(2);
        Fixtures.assertInvariants(small);
    }

    @Test
    void fullBackendMapFailsOnlyTheFrontendThatDoesNotFitAndKeepsItsOldState() {
        NatMaps small = new NatMaps(new InMemoryMap<>("enilb_svc4_v2", 8), new InMemoryMap<>("enilb_slot4_v2", 64),
                new InMemoryMap<>("enilb_be4_v2", 3), new InMemoryMap<>("enilb_rnat4_v2", 8),
                new InMemoryMap<>("enilb_vip4_v2", 8), svcId -> { });
        NatMapWriter w = new NatMapWriter(new NatMaps(small.services(), small.slots(),
                new Capped<>(small.backends(), 3), small.revNat(), small.clusterIps(), small.counters()));
        NormalizedService a = svc("a", "10.96.0.1", 0, tcp(80, active("10.0.0.1", 80)));
        NormalizedService b = svc("b", "10.96.0.2", 0, tcp(80, active("10.0.0.2", 80)));
        w.apply(upsert(a, b));
        // ids 1..3 exist but the map only holds 3 entries: b's growth needs two more
        NormalizedService bigger = svc("b", "10.96.0.2", 0, tcp(80, active("10.0.0.2", 80), active("10.0.0.3", 80), active("10.0.0.4", 80)));
        w.apply(upsert(bigger));
        SvcKey fb = frontend("10.96.0.2", 80, Protocol.TCP);
        assertThat(w.failures()).containsOnlyKeys(fb);
        assertThat(w.failures().get(fb)).contains("enilb_be4_v2");
        assertThat(small.services().get(frontend("10.96.0.1", 80, Protocol.TCP))).isPresent();
        assertThat(small.services().get(fb).orElseThrow().active()).isEqualTo(1);
        Fixtures.assertInvariants(small);

        w.apply(upsert(b));
        assertThat(w.failures()).isEmpty();
        assertMapsMatch(small, w, List.of(a, b));
    }

    @Test
    void badInputChangesNothing() {
        NormalizedService web = svc("web", "10.96.0.10", 0, tcp(80, active("10.0.0.1", 80)));
        writer.apply(upsert(web));
        writer.apply(upsert(svc("web", "not-an-ip", 0, tcp(80, active("10.0.0.1", 80)))));
        assertMapsMatch(maps, writer, List.of(web));
        assertThat(writer.failures()).isEmpty();
        // a backend address that does not parse never reaches the writer: the model refuses it
        assertThatThrownBy(() -> active("10.0.0.999", 80)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("10.0.0.999");
    }

    @Test
    void restoreAdoptsIdsAndReconcileDeletesOnlyWhatIsNotDesired() {
        NormalizedService web = svc("web", "10.96.0.10", 10,
                tcp(80, active("10.0.0.1", 80), terminating("10.0.0.2", 80), active("10.0.0.3", 80)));
        NormalizedService old = svc("old", "10.96.0.11", 0, tcp(80, terminating("10.0.0.5", 80)));
        writer.apply(upsert(old, web));
        // leftovers of a crash: an orphan slot and reverse NAT of an unknown service id, a stray backend
        maps.slots().put(new SlotKey(9, 0), new SlotValue(40));
        maps.revNat().put(9, new RevNatValue(1, 1));
        maps.backends().put(40, new BackendEntry(2, 2, 0, 9));
        Map<SvcKey, SvcValue> servicesBefore = maps.services().entries();

        NatMapWriter restarted = new NatMapWriter(maps);
        restarted.restore();
        restarted.apply(upsert(web));
        assertThat(restarted.lastBatch().writes()).isZero();
        SvcKey fk = frontend("10.96.0.10", 80, Protocol.TCP);
        assertThat(maps.services().get(fk)).isEqualTo(java.util.Optional.of(servicesBefore.get(fk)));

        assertThat(restarted.reconcile()).isEqualTo(1 + 1 + 1 + 1 + 1 + 1); // old: svc, revNat, backend; orphans: slot, revNat, backend
        assertMapsMatch(maps, restarted, List.of(web));
        assertThat(restarted.serviceId(fk)).isEqualTo(writer.serviceId(fk));
    }

    /** Claims a larger capacity than the map has, so that ids are free while the map is full. */
    private record Capped<K, V>(KeyValueMap<K, V> map, int real) implements KeyValueMap<K, V> {
        public String name() {
            return map.name();
        }

        public int maxEntries() {
            return 64;
        }

        public java.util.Optional<V> get(K key) {
            return map.get(key);
        }

        public void put(K key, V value) {
            map.put(key, value);
        }

        public boolean delete(K key) {
            return map.delete(key);
        }

        public void putAll(List<Map.Entry<K, V>> entries) {
            map.putAll(entries);
        }

        public int deleteAll(List<K> keys) {
            return map.deleteAll(keys);
        }

        public Map<K, V> entries() {
            return map.entries();
        }

        public long forEachBatch(int batchSize, java.util.function.BiConsumer<K, V> action) {
            return map.forEachBatch(batchSize, action);
        }

        public int deleteIf(List<K> candidates, java.util.function.Predicate<V> condition) {
            return map.deleteIf(candidates, condition);
        }
    }
}
