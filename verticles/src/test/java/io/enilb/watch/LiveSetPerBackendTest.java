package io.enilb.watch;

import static org.assertj.core.api.Assertions.assertThat;

import io.enilb.model.ServiceChange;
import io.enilb.natmap.KeptNowhereMap;
import io.enilb.natmap.NatMapWriter;
import io.fabric8.kubernetes.api.model.discovery.v1.Endpoint;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.openjdk.jol.info.GraphStats;

/**
 * What the daemon keeps per backend once a Service is programmed: the watcher's projection of its
 * slice and its normalized Service, and nat-map's desired and written state and backend ids, all
 * walked and counted by JOL from the catalog and the writer (the maps keep their entries outside
 * the heap, as the kernel does). Counted per backend as the difference between Services of 20
 * and of 10 endpoints, so that what each Service costs whatever its endpoints cancels out.
 *
 * <p>Each layer used to hold a copy of every backend (the address as text in the projection and
 * the model, parsed again into nat-map's desired backend, and a key object with a boxed address
 * per backend id): 264 bytes per backend, 126 MiB at 500 000 backends; now 96 bytes.
 */
class LiveSetPerBackendTest {
    private static final int SERVICES = 1000;
    /** Measured 95.5 (263.8 before); room for hash tables growing by doubling, for another JVM's layout. */
    private static final double MAX_BYTES_PER_BACKEND = 128;

    static {
        // records (projections, model, keys) have no field offset that Unsafe gives out: JOL finds it its own way
        System.setProperty("jol.magicFieldOffset", "true");
    }

    @Test
    void theWatcherAndNatMapHoldEachBackendOnceAndCompactly() {
        long ten = retainedBytes(10);
        long twenty = retainedBytes(20);
        double perBackend = (twenty - ten) / (double) (SERVICES * 10);
        System.out.printf("live set per backend (catalog + nat-map writer): %.1f bytes (%d Services x 10: %,d bytes;"
                + " x 20: %,d bytes)%n", perBackend, SERVICES, ten, twenty);
        assertThat(perBackend).isLessThan(MAX_BYTES_PER_BACKEND);
    }

    /** The bytes reachable from a catalog and a writer that hold {@link #SERVICES} Services of {@code endpoints} each. */
    private static long retainedBytes(int endpoints) {
        ServiceCatalog catalog = new ServiceCatalog(new ServiceNormalizer("node-a"));
        NatMapWriter writer = new NatMapWriter(KeptNowhereMap.natMaps(4096, 1 << 16));
        writer.restore();
        List<ServiceChange> changes = new ArrayList<>();
        for (int s = 0; s < SERVICES; s++) {
            String name = "svc-" + s;
            changes.addAll(catalog.putService(K8s.service(name, "198.19." + (s >> 8) + "." + (s & 255),
                    K8s.port("", "TCP", 80))));
            Endpoint[] ready = new Endpoint[endpoints];
            for (int e = 0; e < endpoints; e++) {
                int address = s * endpoints + e;
                ready[e] = K8s.ready("198.18." + (address >> 8) + "." + (address & 255));
            }
            changes.addAll(catalog.putSlice(K8s.slice(name + "-x7k2p", name,
                    List.of(K8s.slicePort("", "TCP", 8080)), ready)));
        }
        writer.apply(changes);
        assertThat(writer.failures()).isEmpty();
        assertThat(writer.backendsProgrammed()).isEqualTo(SERVICES * endpoints);
        return GraphStats.parseInstance(catalog, writer).totalSize();
    }
}
