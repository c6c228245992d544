package io.enilb.health;

import io.enilb.attach.AttachStats;
import io.enilb.bus.Readiness;
import io.enilb.model.ClusterIp;
import io.enilb.model.NormalizedService;
import io.enilb.model.ServicePort;
import io.enilb.watch.ServiceView;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.snapshots.ClassicHistogramBuckets;
import io.prometheus.metrics.model.snapshots.HistogramSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import io.vertx.core.VertxOptions;
import io.vertx.micrometer.MicrometerMetricsFactory;
import io.vertx.micrometer.MicrometerMetricsOptions;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * enilb's meters in a {@link PrometheusMeterRegistry}. Recordings (sync latency, batch sizes)
 * arrive from nat-map as they happen; everything read from the daemon's state and the kernel is
 * refreshed by {@link #refresh} right before a scrape, on a worker.
 *
 * <p>Meters whose labels come and go (one per Service frontend, per map, per CNI command) are
 * registered when first seen and removed when a refresh no longer sees them.
 */
public final class HealthMetrics implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(HealthMetrics.class);
    static final String CNI_DURATION = "enilb_cni_request_duration_seconds";

    private final PrometheusMeterRegistry registry;
    private final HealthSources sources;
    private final Timer syncLatency;
    private final DistributionSummary batchSize;
    private final NatMapStats.BatchListener batchListener;
    private final MultiCollector cniDurations;
    /** Meters set by a refresh, with the holder of their value (meters reference it weakly). */
    private final Map<Meter.Id, Value> dynamic = new HashMap<>();
    private String lastProblem = "";
    private boolean closed;

    public HealthMetrics(PrometheusMeterRegistry registry, HealthSources sources) {
        this.registry = registry;
        this.sources = sources;
        this.syncLatency = Timer.builder("enilb.sync.latency")
                .description("From a Service change reaching nat-map until it is in the BPF maps")
                .serviceLevelObjectives(Duration.ofNanos(500_000), millis(1), millis(2), millis(3), millis(5),
                        Duration.ofNanos(7_500_000), millis(10), millis(15), millis(25), millis(50), millis(100),
                        millis(250), millis(500), millis(1000), millis(2500), millis(5000), millis(10000))
                .register(registry);
        this.batchSize = DistributionSummary.builder("enilb.natmap.batch.size")
                .description("Map entries written or deleted per nat-map batch")
                .serviceLevelObjectives(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
                .register(registry);
        this.batchListener = (size, nanos) -> {
            batchSize.record(size);
            syncLatency.record(nanos, TimeUnit.NANOSECONDS);
        };
        if (sources.natMap() != null) {
            sources.natMap().addBatchListener(batchListener);
        }
        this.cniDurations = this::cniDurations;
        registry.getPrometheusRegistry().register(cniDurations);
    }

    /** Options for a Vert.x whose own metrics (HTTP, event bus, pools) go to the same registry. */
    public static VertxOptions vertxOptions() {
        return new VertxOptions().setMetricsOptions(new MicrometerMetricsOptions().setEnabled(true));
    }

    /** The factory that puts Vert.x's metrics into {@code registry}: {@code Vertx.builder().withMetrics(..)}. */
    public static MicrometerMetricsFactory vertxMetrics(PrometheusMeterRegistry registry) {
        return new MicrometerMetricsFactory(registry);
    }

    private static Duration millis(long ms) {
        return Duration.ofMillis(ms);
    }

    /**
     * Reads the daemon's state and the kernel's counters into the meters. Blocks (map reads):
     * call it on a worker. A part that cannot be read is left out of this scrape and logged once.
     */
    public synchronized void refresh(Map<String, Readiness> readiness) {
        if (closed) {
            return;
        }
        Set<Meter.Id> seen = new HashSet<>();
        List<String> problems = new java.util.ArrayList<>();
        readiness.values().forEach(r ->
                gauge(seen, "enilb.ready", Tags.of("component", r.component()), r.ready() ? 1 : 0,
                        "1 when the component reported ready"));
        ServiceView view = sources.services();
        if (view != null) {
            Tags source = Tags.of("source", view.sourceName());
            gauge(seen, "enilb.source.synced", source, view.synced() ? 1 : 0,
                    "1 when the service source delivered its complete state");
            gauge(seen, "enilb.source.errors", source, view.sourceErrors().size(),
                    "Problems the service source has now (files, API)");
            counter(seen, "enilb.source.problems", source, view.sourceErrorCount(),
                    "Problems the service source reported since start");
            gauge(seen, "enilb.services", Tags.empty(), view.services().size(), "Services proxied");
        }
        NatMapStats natMap = sources.natMap();
        if (natMap != null) {
            try {
                gauge(seen, "enilb.natmap.queue.depth", Tags.empty(), natMap.queueDepth(),
                        "Service changes waiting to be written to the maps");
                gauge(seen, "enilb.natmap.last.batch.size", Tags.empty(), natMap.lastBatchSize(),
                        "Map entries written or deleted by the last batch");
            } catch (RuntimeException e) {
                problems.add("nat-map: " + e.getMessage());
            }
        }
        AttachStats attach = sources.attachStats();
        if (attach != null) {
            attach.counts().forEach((key, count) -> {
                int space = key.indexOf(' ');
                counter(seen, "enilb.cni.requests",
                        Tags.of("command", key.substring(0, space), "outcome", key.substring(space + 1)), count,
                        "CNI requests served, by command and outcome");
            });
            counter(seen, "enilb.cni.malformed.requests", Tags.empty(), attach.malformedRequests(),
                    "CNI socket requests refused before a command ran: malformed, too large or too slow");
            counter(seen, "enilb.cni.refused.peers", Tags.empty(), attach.refusedPeers(),
                    "CNI socket connections refused because of the peer's uid");
        }
        if (sources.attachments() != null) {
            gauge(seen, "enilb.attached.pods", Tags.empty(), sources.attachmentsNow().size(),
                    "Pod interfaces carrying enilb's programs");
        }
        DatapathView datapath = sources.datapathNow();
        gauge(seen, "enilb.datapath.loaded", Tags.empty(), datapath == null ? 0 : 1,
                "1 when the BPF programs and maps are loaded");
        if (datapath != null) {
            try {
                datapathMeters(seen, datapath, view, natMap);
            } catch (RuntimeException e) {
                problems.add("datapath: " + e.getMessage());
            }
        }
        dynamic.keySet().removeIf(id -> {
            if (seen.contains(id)) {
                return false;
            }
            registry.remove(id);
            return true;
        });
        String problem = String.join("; ", problems);
        if (!problem.equals(lastProblem)) {
            if (problem.isEmpty()) {
                LOG.info("metrics complete again");
            } else {
                LOG.warn("metrics incomplete: {}", problem);
            }
            lastProblem = problem;
        }
    }

    private void datapathMeters(Set<Meter.Id> seen, DatapathView datapath, ServiceView view, NatMapStats natMap) {
        for (DatapathView.MapUsage map : datapath.maps()) {
            Tags tags = Tags.of("map", map.name());
            gauge(seen, "enilb.map.capacity", tags, map.capacity(), "max_entries of each BPF map");
            if (map.entries() >= 0) {
                gauge(seen, "enilb.map.entries", tags, map.entries(),
                        "Entries in each hash/LRU BPF map when last counted");
            }
        }
        datapath.drops().forEach((reason, packets) ->
                counter(seen, "enilb.datapath.drops", Tags.of("reason", reason), packets,
                        "Packets the datapath dropped, by reason"));
        if (view == null || natMap == null) {
            return; // without nat-map's service ids the counters cannot be named
        }
        for (NormalizedService service : view.services().values()) {
            for (ClusterIp clusterIp : service.clusterIps()) {
                for (ServicePort port : clusterIp.ports()) {
                    Optional<NatMapStats.FrontendState> state =
                            natMap.frontend(clusterIp.address(), port.port(), port.protocol());
                    if (state.isEmpty() || state.get().svcId() <= 0) {
                        continue;
                    }
                    DatapathView.ServiceCounters c = datapath.serviceCounters(state.get().svcId());
                    Tags tags = Tags.of("service", service.key().toString(),
                            "frontend", StateJson.frontend(clusterIp.address(), port));
                    counter(seen, "enilb.service.packets", tags, c.packets(), "Packets to a Service frontend");
                    counter(seen, "enilb.service.bytes", tags, c.bytes(), "Bytes to a Service frontend");
                    counter(seen, "enilb.service.new.flows", tags, c.newFlows(),
                            "Connections (flows) opened to a Service frontend");
                }
            }
        }
    }

    private void gauge(Set<Meter.Id> seen, String name, Tags tags, double value, String help) {
        Value holder = holder(seen, new Meter.Id(name, tags, null, help, Meter.Type.GAUGE),
                v -> Gauge.builder(name, v, Value::get).tags(tags).description(help).register(registry));
        holder.set(value);
    }

    private void counter(Set<Meter.Id> seen, String name, Tags tags, double value, String help) {
        Value holder = holder(seen, new Meter.Id(name, tags, null, help, Meter.Type.COUNTER),
                v -> FunctionCounter.builder(name, v, Value::get).tags(tags).description(help).register(registry));
        holder.set(value);
    }

    private Value holder(Set<Meter.Id> seen, Meter.Id key, java.util.function.Function<Value, Meter> register) {
        Value holder = dynamic.get(key);
        if (holder == null) {
            holder = new Value();
            register.apply(holder);
            dynamic.put(key, holder);
        }
        seen.add(key);
        return holder;
    }

    /** The latency histograms of {@link AttachStats}, which keeps its own buckets, as Prometheus histograms. */
    private MetricSnapshots cniDurations() {
        AttachStats attach = sources.attachStats();
        if (attach == null) {
            return MetricSnapshots.of();
        }
        HistogramSnapshot.Builder histogram = HistogramSnapshot.builder().name(CNI_DURATION)
                .help("Time to serve a CNI request, by command");
        boolean any = false;
        double[] bounds = new double[AttachStats.LATENCY_BOUNDS_MS.length + 1];
        for (int i = 0; i < AttachStats.LATENCY_BOUNDS_MS.length; i++) {
            bounds[i] = AttachStats.LATENCY_BOUNDS_MS[i] / 1000.0;
        }
        bounds[bounds.length - 1] = Double.POSITIVE_INFINITY;
        for (Map.Entry<String, AttachStats.Latency> entry : attach.latencies().entrySet()) {
            AttachStats.Latency latency = entry.getValue();
            long[] counts = new long[bounds.length];
            long below = 0;
            for (int i = 0; i < bounds.length; i++) {
                long cumulative = latency.cumulative(i);
                counts[i] = cumulative - below; // the model takes per-bucket counts and sums them itself
                below = cumulative;
            }
            histogram.dataPoint(HistogramSnapshot.HistogramDataPointSnapshot.builder()
                    .classicHistogramBuckets(ClassicHistogramBuckets.of(bounds, counts))
                    .sum(latency.sumSeconds())
                    .labels(Labels.of("command", entry.getKey()))
                    .build());
            any = true;
        }
        return any ? MetricSnapshots.of(histogram.build()) : MetricSnapshots.of();
    }

    /** Refreshes nothing: the Prometheus text of the whole registry (Vert.x's meters included). */
    public String scrape() {
        return registry.scrape();
    }

    /** Removes enilb's meters and listeners; the registry stays (the daemon owns it). Safe twice. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (sources.natMap() != null) {
            sources.natMap().removeBatchListener(batchListener);
        }
        registry.getPrometheusRegistry().unregister(cniDurations);
        dynamic.keySet().forEach(registry::remove);
        dynamic.clear();
        registry.remove(syncLatency);
        registry.remove(batchSize);
    }

    /** The current value of a gauge or counter set by a refresh. */
    private static final class Value {
        private volatile double value;

        double get() {
            return value;
        }

        void set(double v) {
            value = v;
        }
    }
}
