package io.enilb.natmap;

import static io.enilb.natmap.Fixtures.active;
import static io.enilb.natmap.Fixtures.assertMapsMatch;
import static io.enilb.natmap.Fixtures.svc;
import static io.enilb.natmap.Fixtures.tcp;
import static io.enilb.natmap.Fixtures.upsert;
import static org.assertj.core.api.Assertions.assertThat;

import io.enilb.bpf.Structs.BackendEntry;
import io.enilb.bpf.Structs.RevNatValue;
import io.enilb.bpf.Structs.SlotKey;
import io.enilb.bpf.Structs.SlotValue;
import io.enilb.model.Backend;
import io.enilb.model.NormalizedService;
import io.enilb.model.ServiceChange;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.LongAdder;
import org.junit.jupiter.api.Test;

/**
 * What a change costs in map operations, counted at the writer's seam to the kernel: proportional
 * to the Service it touches, never to the catalog. A cold sync's reconcile neither reads the maps
 * again nor rewrites what the batches already wrote.
 */
class NatMapWriterCostTest {
    private static final int SERVICES = 1000;
    private static final int ENDPOINTS = 10;

    private final NatMaps maps = NatMaps.inMemory(4096, 65536);
    private final List<String> log = new ArrayList<>();
    private final LongAdder entries = new LongAdder();
    private final NatMapWriter writer = new NatMapWriter(RecordingMap.recording(maps, log, entries));

    @Test
    void reconcileAfterAColdSyncReadsNoMapAndDeletesOnlyWhatRestoreFoundUnowned() {
        // left behind by an earlier run under a service id no frontend has: a slot, a reverse NAT, a backend
        maps.slots().put(new SlotKey(4000, 0), new SlotValue(77_777));
        maps.revNat().put(4000, new RevNatValue(1, 1));
        maps.backends().put(77_777, new BackendEntry(2, 2, 0, 4000));
        writer.restore();
        List<NormalizedService> services = coldSync();
        log.clear();
        entries.reset();

        assertThat(writer.reconcile()).isEqualTo(3);

        assertThat(log).as("map calls of the reconcile")
                .containsExactly("delete enilb_slot4_v2", "delete enilb_be4_v2", "delete enilb_rnat4_v2");
        assertThat(entries.sum()).isEqualTo(3);
        assertMapsMatch(maps, writer, services);
    }

    @Test
    void aChangeToOneServiceAmongManyWritesOnlyThatServicesEntries() {
        writer.restore();
        List<NormalizedService> services = new ArrayList<>(coldSync());
        writer.reconcile();
        log.clear();
        entries.reset();

        // one endpoint of Service 500 replaced: its new backend, the slot that names it, the old backend gone
        NormalizedService changed = service(500, 1);
        writer.apply(upsert(changed));

        assertThat(log).containsExactly("put enilb_be4_v2", "put enilb_slot4_v2", "delete enilb_be4_v2");
        assertThat(entries.sum()).isEqualTo(3);
        services.set(500, changed);
        assertMapsMatch(maps, writer, services);

        log.clear();
        entries.reset();
        writer.apply(List.of(new ServiceChange(changed.key(), null)));
        // its service entry, 10 slots, 10 backends, its reverse NAT and its ClusterIP: nothing of the others
        assertThat(entries.sum()).isEqualTo(1 + ENDPOINTS + ENDPOINTS + 1 + 1);
        services.remove(500);
        assertMapsMatch(maps, writer, services);
    }

    /** {@value #SERVICES} Services of {@value #ENDPOINTS} endpoints, applied in batches of 100 as nat-map does. */
    private List<NormalizedService> coldSync() {
        List<NormalizedService> services = new ArrayList<>();
        for (int i = 0; i < SERVICES; i++) {
            services.add(service(i, 0));
        }
        for (int from = 0; from < SERVICES; from += 100) {
            writer.apply(upsert(services.subList(from, from + 100).toArray(NormalizedService[]::new)));
            assertThat(writer.failures()).isEmpty();
        }
        return services;
    }

    /** Service i: ClusterIP 10.96.x.y:80, endpoints 10.1.x.y + k; {@code generation} moves its first endpoint. */
    private static NormalizedService service(int i, int generation) {
        Backend[] backends = new Backend[ENDPOINTS];
        for (int k = 0; k < ENDPOINTS; k++) {
            int port = 8000 + (k == 0 ? generation : 0);
            backends[k] = active("10.1." + (i / 256) + "." + (i % 256), port + k * 10);
        }
        return svc("svc-" + i, "10.96." + (i / 256) + "." + (i % 256), 0, tcp(80, backends));
    }
}
