package io.enilb.health;

import static org.assertj.core.api.Assertions.assertThat;

import io.enilb.bpf.Ipv4;
import io.enilb.bpf.Structs.SvcKey;
import io.enilb.bus.FrontendState;
import io.enilb.bus.FrontendTable;
import io.enilb.bus.SourceState;
import io.enilb.model.NormalizedService;
import io.enilb.model.Protocol;
import io.enilb.model.ServiceKey;
import io.enilb.model.ServicePort;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.lang.management.ManagementFactory;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/**
 * What a scrape's refresh allocates, counted (the JVM's per-thread allocation counter), not timed:
 * Prometheus scrapes every few seconds, and at 10 000 frontends with the default top 100 what a
 * refresh allocates for the frontends that get no series fills the young generation, whose
 * collections pause nat-map's batches.
 */
class HealthMetricsAllocationTest {
    private static final int FRONTENDS = 10_000;
    private static final int TOP = 100;
    /**
     * A frontend that gets no series costs its place in the ranking (about 240 B here: its state
     * looked up, its entry in the list), not its labels as well (about 470 B in all when every
     * frontend was labelled).
     */
    private static final long BYTES_PER_FRONTEND = 320;

    @Test
    void aTopNRefreshLabelsOnlyTheFrontendsItExports() {
        SortedMap<ServiceKey, NormalizedService> services = new TreeMap<>();
        Map<Object, FrontendState> states = new HashMap<>();
        Fakes.Datapath datapath = new Fakes.Datapath();
        for (int i = 0; i < FRONTENDS; i++) {
            String ip = Ipv4.format(Ipv4.parse("198.19.0.0") + 1 + i);
            ServiceKey key = new ServiceKey("bench", "svc-" + i);
            services.put(key, new NormalizedService(key, ip,
                    List.of(new ServicePort("http", Protocol.TCP, 80, List.of())), 0));
            states.put(new SvcKey(Ipv4.parse(ip), 80, Protocol.TCP.number), FrontendState.programmed(i + 1));
            datapath.counters.put(i + 1, new DatapathView.ServiceCounters(i, 100L * i, 1));
        }
        SourceState source = new SourceState("kubernetes", true, new TreeMap<>(), 0, services);
        FrontendTable frontends = FrontendTable.EMPTY.with(states);
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        HealthMetrics metrics = new HealthMetrics(registry, HealthMetrics.PerService.parse("top " + TOP));
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

        long least = Long.MAX_VALUE;
        // the first refreshes register the meters and load classes; the least of several is the steady cost
        for (int i = 0; i < 5; i++) {
            long before = threads.getCurrentThreadAllocatedBytes();
            metrics.refresh(Map.of(), source, frontends, datapath);
            least = Math.min(least, threads.getCurrentThreadAllocatedBytes() - before);
        }

        assertThat(registry.scrape()).contains("frontend=\"198.19.39.16:80/TCP\"")
                .doesNotContain("frontend=\"198.19.0.1:80/TCP\"");
        assertThat(least / FRONTENDS).as("bytes allocated per frontend by a refresh (top %d of %d)", TOP, FRONTENDS)
                .isLessThan(BYTES_PER_FRONTEND);
        metrics.close();
    }
}
