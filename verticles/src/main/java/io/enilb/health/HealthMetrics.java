package io.enilb.health;

import io.enilb.bus.FrontendTable;
import io.enilb.bus.Readiness;
import io.enilb.bus.SourceState;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.Tags;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.VertxOptions;
import io.vertx.micrometer.MicrometerMetricsFactory;
import io.vertx.micrometer.MetricsDomain;
import io.vertx.micrometer.MicrometerMetricsOptions;
import it.unimi.dsi.fastutil.ints.IntArrayList;
import it.unimi.dsi.fastutil.ints.IntComparator;
import it.unimi.dsi.fastutil.ints.IntHeapPriorityQueue;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.IntFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Health's own meters in the daemon's {@link PrometheusMeterRegistry}: readiness by component,
 * the datapath (loaded, map usage, drops) and the per-frontend counters. The other verticles
 * register their meters themselves (nat-map's sync latency and batches, attach's CNI requests,
 * the watcher's source state); health only serves the registry. Everything read from the kernel
 * is refreshed by {@link #refresh} right before a scrape, on health's workers, from the snapshots
 * the others published: a scrape never waits for them.
 *
 * <p>Meters whose labels come and go (one per Service frontend, per map) are registered when first
 * seen and removed when a refresh no longer sees them. Which frontends get series follows
 * {@code metrics.per-service} ({@link PerService}).
 */
public final class HealthMetrics implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(HealthMetrics.class);
    /** Above this many frontends, "auto" exports only the busiest {@link #AUTO_TOP}. */
    static final int AUTO_ALL_UP_TO = 1000;
    static final int AUTO_TOP = 100;
    /** From this many frontends on, their counters are read in one bulk pass instead of one lookup each. */
    private static final int BULK_FROM = 64;

    private final PrometheusMeterRegistry registry;
    private final PerService perService;
    /** Meters set by a refresh, with the holder of their value (meters reference it weakly). */
    private final Map<Meter.Id, Value> dynamic = new HashMap<>();
    private String lastProblem = "";
    private boolean closed;

    /**
     * Which frontends get their own series: all, none, the top N by bytes, or auto (all up to
     * {@link #AUTO_ALL_UP_TO} frontends, the top {@link #AUTO_TOP} beyond).
     */
    public record PerService(boolean all, int top) {
        public static final PerService AUTO = new PerService(false, -1);

        /** "auto", "all", "none" or "top N". */
        public static PerService parse(String text) {
            String t = text.trim();
            return switch (t) {
                case "auto" -> AUTO;
                case "all" -> new PerService(true, 0);
                case "none" -> new PerService(false, 0);
                default -> {
                    if (!t.startsWith("top ")) {
                        throw new IllegalArgumentException("metrics.per-service: expected auto, all, none or top N, got '"
                                + text + "'");
                    }
                    yield new PerService(false, Integer.parseInt(t.substring(4).trim()));
                }
            };
        }

        /** How many of {@code frontends} get series: all of them, or a top N. */
        int limit(int frontends) {
            if (all) {
                return frontends;
            }
            if (top >= 0) {
                return Math.min(top, frontends);
            }
            return frontends <= AUTO_ALL_UP_TO ? frontends : AUTO_TOP;
        }
    }

    public HealthMetrics(PrometheusMeterRegistry registry, PerService perService) {
        this.registry = registry;
        this.perService = perService;
    }

    /**
     * Options for a Vert.x whose own metrics (HTTP server and client, pools, verticles) go to the
     * same registry. Not the event bus's: its meters are looked up again for every message (a
     * gauge's id, tags and builder each time), which was a seventh of what the daemon allocated
     * during a 10 000-Service sync, for series that only count enilb's internal hand-offs.
     */
    public static VertxOptions vertxOptions() {
        return new VertxOptions().setMetricsOptions(new MicrometerMetricsOptions().setEnabled(true)
                .addDisabledMetricsCategory(MetricsDomain.EVENT_BUS));
    }

    /** The factory that puts Vert.x's metrics into {@code registry}: {@code Vertx.builder().withMetrics(..)}. */
    public static MicrometerMetricsFactory vertxMetrics(PrometheusMeterRegistry registry) {
        return new MicrometerMetricsFactory(registry);
    }

    /**
     * Reads the kernel's counters into the meters, naming frontends from the given snapshots.
     * Blocks (map reads): call it on a worker. A part that cannot be read is left out of this
     * scrape and logged once.
     */
    public synchronized void refresh(Map<String, Readiness> readiness, SourceState source, FrontendTable frontends,
                                     DatapathView datapath) {
        if (closed) {
            return;
        }
        Set<Meter.Id> seen = new HashSet<>();
        List<String> problems = new ArrayList<>();
        readiness.values().forEach(r ->
                gauge(seen, "enilb.ready", Tags.of("component", r.component()), r.ready() ? 1 : 0,
                        "1 when the component reported ready"));
        gauge(seen, "enilb.datapath.loaded", Tags.empty(), datapath == null ? 0 : 1,
                "1 when the BPF programs and maps are loaded");
        if (datapath != null) {
            try {
                datapathMeters(seen, datapath);
                if (source != null && frontends != null) {
                    serviceMeters(seen, datapath, source, frontends);
                }
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

    private void datapathMeters(Set<Meter.Id> seen, DatapathView datapath) {
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
    }

    /**
     * Series for the frontends {@code metrics.per-service} names. Ranking the top N by bytes at
     * 50 000 frontends once a second made most of the daemon's garbage while it churned (a record
     * per frontend, a decoded counter per id and CPU; the young collections then promoted whatever
     * a scrape held, and the old generation filled: a full collection every few seconds,
     * docs/BENCHMARKS.md). So the ranking runs on primitives: the frontends' service ids in the
     * catalog's order, the counters as {@code svc_stats} words, a bounded heap of positions; only
     * the frontends that get series are made into objects, in a second walk of the same snapshot.
     */
    private void serviceMeters(Set<Meter.Id> seen, DatapathView datapath, SourceState source,
                               FrontendTable frontends) {
        IntArrayList ids = new IntArrayList();
        source.eachFrontend((service, clusterIp, port) ->
                ids.add(frontends.serviceId(clusterIp.address(), port.port(), port.protocol())));
        int programmed = 0;
        int maxId = 0;
        for (int p = 0; p < ids.size(); p++) {
            if (ids.getInt(p) > 0) {
                programmed++;
                maxId = Math.max(maxId, ids.getInt(p));
            }
        }
        int limit = perService.limit(programmed);
        if (limit == 0) {
            return;
        }
        DatapathView.CounterTable bulk = programmed >= BULK_FROM || limit < programmed
                ? datapath.allServiceCounters(maxId) : null;
        IntFunction<DatapathView.ServiceCounters> counters = bulk == null ? datapath::serviceCounters : bulk::get;
        BitSet chosen = limit < programmed ? busiest(ids, limit, bulk) : null;
        int[] position = {0};
        source.eachFrontend((service, clusterIp, port) -> {
            int p = position[0]++;
            int id = ids.getInt(p);
            if (id <= 0 || (chosen != null && !chosen.get(p))) {
                return;
            }
            DatapathView.ServiceCounters c = counters.apply(id);
            Tags tags = Tags.of("service", service.key().toString(),
                    "frontend", StateJson.frontend(clusterIp.address(), port));
            counter(seen, "enilb.service.packets", tags, c.packets(), "Packets to a Service frontend");
            counter(seen, "enilb.service.bytes", tags, c.bytes(), "Bytes to a Service frontend");
            counter(seen, "enilb.service.new.flows", tags, c.newFlows(),
                    "Connections (flows) opened to a Service frontend");
        });
    }

    /**
     * The positions (in {@code ids}) of the {@code top} frontends with the most bytes; among equal
     * counts the earlier position, so that idle frontends do not trade series from one scrape to
     * the next. A heap of at most {@code top} positions whose head is the least of them.
     */
    private static BitSet busiest(IntArrayList ids, int top, DatapathView.CounterTable counters) {
        IntComparator lesser = (a, b) -> {
            int byBytes = Long.compare(counters.bytes(ids.getInt(a)), counters.bytes(ids.getInt(b)));
            return byBytes != 0 ? byBytes : Integer.compare(b, a);
        };
        IntHeapPriorityQueue kept = new IntHeapPriorityQueue(top, lesser);
        for (int p = 0; p < ids.size(); p++) {
            if (ids.getInt(p) <= 0) {
                continue;
            }
            if (kept.size() < top) {
                kept.enqueue(p);
            } else if (lesser.compare(p, kept.firstInt()) > 0) {
                kept.dequeueInt();
                kept.enqueue(p);
            }
        }
        BitSet chosen = new BitSet(ids.size());
        while (!kept.isEmpty()) {
            chosen.set(kept.dequeueInt());
        }
        return chosen;
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

    /** Refreshes nothing: the Prometheus text of the whole registry (Vert.x's meters included). */
    public String scrape() {
        return registry.scrape();
    }

    /** Removes health's meters; the registry stays (the daemon owns it). Safe twice. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        dynamic.keySet().forEach(registry::remove);
        dynamic.clear();
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
