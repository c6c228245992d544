package io.enilb.health;

import io.enilb.attach.AttachStats;
import io.enilb.model.NormalizedService;
import io.enilb.model.Protocol;
import io.enilb.model.ServiceKey;
import io.enilb.watch.ServiceView;
import io.vertx.core.Context;
import java.lang.reflect.Method;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;

/** In-memory stand-ins for what the daemon hands to health. */
final class Fakes {
    private Fakes() {
    }

    /** A watcher view whose content the test sets. */
    static final class View implements ServiceView {
        volatile SortedMap<ServiceKey, NormalizedService> services = new TreeMap<>();
        volatile boolean synced;
        volatile SortedMap<String, String> errors = new TreeMap<>();
        volatile long errorCount;

        void put(NormalizedService service) {
            TreeMap<ServiceKey, NormalizedService> next = new TreeMap<>(services);
            next.put(service.key(), service);
            services = Collections.unmodifiableSortedMap(next);
        }

        void remove(ServiceKey key) {
            TreeMap<ServiceKey, NormalizedService> next = new TreeMap<>(services);
            next.remove(key);
            services = Collections.unmodifiableSortedMap(next);
        }

        @Override
        public String sourceName() {
            return "file";
        }

        @Override
        public boolean synced() {
            return synced;
        }

        @Override
        public SortedMap<ServiceKey, NormalizedService> services() {
            return services;
        }

        @Override
        public SortedMap<String, String> sourceErrors() {
            return errors;
        }

        @Override
        public long sourceErrorCount() {
            return errorCount;
        }
    }

    /** nat-map's stats: frontends by "ip:port/PROTO". */
    static final class NatMap implements NatMapStats {
        final List<BatchListener> listeners = new CopyOnWriteArrayList<>();
        final Map<String, FrontendState> frontends = new ConcurrentHashMap<>();
        volatile int queueDepth;
        volatile int lastBatch;

        void batch(int size, long nanos) {
            lastBatch = size;
            listeners.forEach(l -> l.batchWritten(size, nanos));
        }

        @Override
        public int queueDepth() {
            return queueDepth;
        }

        @Override
        public int lastBatchSize() {
            return lastBatch;
        }

        @Override
        public void addBatchListener(BatchListener listener) {
            listeners.add(listener);
        }

        @Override
        public void removeBatchListener(BatchListener listener) {
            listeners.remove(listener);
        }

        @Override
        public Optional<FrontendState> frontend(String clusterIp, int port, Protocol protocol) {
            return Optional.ofNullable(frontends.get(clusterIp + ":" + port + "/" + protocol));
        }
    }

    /** A datapath that remembers whether it was ever read on an event-loop thread. */
    static final class Datapath implements DatapathView {
        final Map<Integer, ServiceCounters> counters = new ConcurrentHashMap<>();
        final AtomicBoolean readOnEventLoop = new AtomicBoolean();
        volatile int reads;

        private void reading() {
            reads++;
            if (Context.isOnEventLoopThread()) {
                readOnEventLoop.set(true);
            }
        }

        @Override
        public List<Program> programs() {
            reading();
            return List.of(new Program("enilb_egress", 41), new Program("enilb_ingress", 42),
                    new Program("enilb_lo_egress", 43));
        }

        @Override
        public ServiceCounters serviceCounters(int svcId) {
            reading();
            return counters.getOrDefault(svcId, ServiceCounters.ZERO);
        }

        @Override
        public Map<String, Long> drops() {
            reading();
            Map<String, Long> out = new LinkedHashMap<>();
            out.put("no_backend", 7L);
            out.put("ct_full", 0L);
            return out;
        }

        @Override
        public List<MapUsage> maps() {
            reading();
            return List.of(new MapUsage("enilb_svc4_v1", 3, 65536), new MapUsage("enilb_ct4_v1", 120, 262144),
                    new MapUsage("enilb_stat4_v1", -1, 65536));
        }
    }

    /**
     * Counts one CNI request into {@code stats}. AttachStats only lets the attach package record,
     * and its tests are not ours to extend; reflection reaches the same method the verticle calls.
     */
    static void recordCni(AttachStats stats, String command, AttachStats.Outcome outcome, long nanos) {
        try {
            Method record = AttachStats.class.getDeclaredMethod("record", String.class, AttachStats.Outcome.class,
                    long.class);
            record.setAccessible(true);
            record.invoke(stats, command, outcome, nanos);
        } catch (ReflectiveOperationException e) {
            throw new AssertionError("AttachStats.record(String, Outcome, long) changed", e);
        }
    }
}
