package io.enilb.natmap;

import io.enilb.bus.Addresses;
import io.enilb.bus.BatchWritten;
import io.enilb.bus.FrontendState;
import io.enilb.bus.FrontendTable;
import io.enilb.bus.Liveness;
import io.enilb.bus.LocalCodecs;
import io.enilb.bus.Progress;
import io.enilb.bus.Readiness;
import io.enilb.bus.SyncState;
import io.enilb.model.ServiceChange;
import io.enilb.model.ServiceKey;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.WorkerExecutor;
import io.vertx.core.eventbus.MessageConsumer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalInt;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Batches Service changes into map writes. Changes are coalesced by Service (the last one wins,
 * a delete supersedes); a batch closes when it reaches {@code batchSize} Services or
 * {@code lingerMs} after its first change, and is written by {@link NatMapWriter} on nat-map's
 * own worker thread, one batch at a time, in arrival order. After the source's first full sync
 * the maps are reconciled (what no Service owns is removed) and the verticle reports ready. A
 * queue above its capacity is reported as not ready, and nothing is dropped.
 *
 * <p>After every batch it publishes {@link BatchWritten} on {@link Addresses#NATMAP_BATCH_WRITTEN}
 * with the state of every frontend ({@link FrontendTable}, updated for the touched frontends only):
 * readers never wait for the writer. Frontends that failed (a full map, no free id, a transient
 * error) are retried on a timer with backoff ({@link #RETRY_FIRST} doubling up to
 * {@link #RETRY_MAX}) until they succeed, and are reported as failed meanwhile. Every second it
 * publishes its {@link Liveness}: stuck when a batch has run longer than {@code stuckAfter}.
 * Its meters ({@code enilb_sync_latency_seconds}, {@code enilb_natmap_*}) go to the registry it is given.
 */
public final class NatMapVerticle extends VerticleBase {
    public static final String COMPONENT = "nat-map";
    static final Duration RETRY_FIRST = Duration.ofMillis(100);
    static final Duration RETRY_MAX = Duration.ofSeconds(30);
    private static final Logger LOG = LoggerFactory.getLogger(NatMapVerticle.class);
    private static final int LATENCY_SAMPLES = 4096;
    private static final long HEARTBEAT_MS = 1000;

    private final NatMapWriter writer;
    private final int batchSize;
    private final long lingerMs;
    private final int queueCapacity;
    private final MeterRegistry registry;
    private final Duration stuckAfter;
    private final Progress progress = new Progress();

    /** Pending changes in arrival order of their Service's first pending change; event-loop only. */
    private final LinkedHashMap<ServiceKey, Pending> pending = new LinkedHashMap<>();
    private final AtomicInteger queueDepth = new AtomicInteger();
    private final ConcurrentLinkedDeque<Long> latenciesNanos = new ConcurrentLinkedDeque<>();
    private final List<MessageConsumer<?>> consumers = new ArrayList<>();
    private final List<Meter> meters = new ArrayList<>();
    /** The failures after the last batch; touched by the batch worker only. */
    private Map<Object, String> failures = Map.of();
    private volatile FrontendTable frontends = FrontendTable.EMPTY;
    private volatile int lastBatchSize;
    private volatile int lastBatchServices;
    private WorkerExecutor worker;
    private Timer syncLatency;
    private DistributionSummary batchSizes;
    private long lingerTimer = -1;
    private long retryTimer = -1;
    private long heartbeatTimer = -1;
    private Duration retryDelay = RETRY_FIRST;
    private volatile boolean writing;
    private boolean sourceSynced;
    private volatile boolean reconciled;
    private Readiness readiness;

    private record Pending(ServiceChange change, long arrivedNanos) {
    }

    /** What a batch did, read on the worker: the frontends it changed, and when its writes were done. */
    private record Written(Map<Object, FrontendState> frontends, long doneNanos) {
    }

    public NatMapVerticle(NatMaps maps, int batchSize, int lingerMs, int queueCapacity) {
        this(maps, batchSize, lingerMs, queueCapacity, new SimpleMeterRegistry(), Duration.ofSeconds(30));
    }

    /**
     * @param registry   where nat-map registers its meters
     * @param stuckAfter a batch running longer than this makes the liveness heartbeat say stuck
     */
    public NatMapVerticle(NatMaps maps, int batchSize, int lingerMs, int queueCapacity, MeterRegistry registry,
                          Duration stuckAfter) {
        this.writer = new NatMapWriter(maps);
        this.batchSize = batchSize;
        this.lingerMs = Math.max(1, lingerMs);
        this.queueCapacity = queueCapacity;
        this.registry = Objects.requireNonNull(registry, "registry");
        this.stuckAfter = Objects.requireNonNull(stuckAfter, "stuckAfter");
    }

    @Override
    public Future<?> start() {
        LocalCodecs.register(vertx.eventBus());
        registerMeters();
        // one dedicated thread: batches are serial, and a stuck native call must not take a
        // thread that health or attach need (the default pool is shared)
        worker = vertx.createSharedWorkerExecutor("enilb-natmap-" + deploymentID(), 1,
                Math.max(stuckAfter.toNanos(), TimeUnit.SECONDS.toNanos(1)), TimeUnit.NANOSECONDS);
        publishReadiness(Readiness.notReady(COMPONENT, "waiting for the first full sync"));
        heartbeatTimer = vertx.setPeriodic(HEARTBEAT_MS, id -> heartbeat());
        heartbeat();
        return blocking("restoring the maps", () -> {
            writer.restore();
            return null;
        }).onSuccess(v -> {
            consumers.add(vertx.eventBus().<ServiceChange>localConsumer(Addresses.SERVICES_CHANGED, m -> enqueue(m.body())));
            consumers.add(vertx.eventBus().<SyncState>localConsumer(Addresses.SOURCE_SYNC, m -> {
                sourceSynced = m.body().synced();
                maybeReconcile();
            }));
            LOG.info("nat-map restored {} frontends and {} backends from the pinned maps",
                    writer.frontendsProgrammed(), writer.backendsProgrammed());
            // an empty table tells readers that nat-map is there: what it has not written yet is pending
            publishBatch(0, 0, 0, Map.of());
        });
    }

    private void registerMeters() {
        syncLatency = Timer.builder("enilb.sync.latency")
                .description("From a Service change reaching nat-map until it is in the BPF maps")
                .serviceLevelObjectives(Duration.ofNanos(500_000), millis(1), millis(2), millis(3), millis(5),
                        Duration.ofNanos(7_500_000), millis(10), millis(15), millis(25), millis(50), millis(100),
                        millis(250), millis(500), millis(1000), millis(2500), millis(5000), millis(10000))
                .register(registry);
        batchSizes = DistributionSummary.builder("enilb.natmap.batch.size")
                .description("Map entries written or deleted per nat-map batch")
                .serviceLevelObjectives(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
                .register(registry);
        meters.add(syncLatency);
        meters.add(batchSizes);
        meters.add(Gauge.builder("enilb.natmap.queue.depth", queueDepth, AtomicInteger::get)
                .description("Service changes waiting to be written to the maps").register(registry));
        meters.add(Gauge.builder("enilb.natmap.last.batch.size", this, v -> v.lastBatchSize)
                .description("Map entries written or deleted by the last batch").register(registry));
        meters.add(Gauge.builder("enilb.natmap.failed.frontends", this, v -> v.frontends.failing())
                .description("Frontends whose desired state could not be written (retried with backoff)")
                .register(registry));
    }

    private static Duration millis(long ms) {
        return Duration.ofMillis(ms);
    }

    /** Runs {@code work} on nat-map's worker, tracked as {@code what} for the liveness heartbeat. */
    private <T> Future<T> blocking(String what, Callable<T> work) {
        return worker.executeBlocking(() -> {
            long op = progress.begin(what);
            try {
                return work.call();
            } finally {
                progress.end(op);
            }
        });
    }

    private void heartbeat() {
        String stuck = progress.stuck(stuckAfter).orElse("");
        vertx.eventBus().publish(Addresses.LIVENESS, new Liveness(COMPONENT, stuck));
    }

    private void enqueue(ServiceChange change) {
        Pending before = pending.remove(change.key());
        // coalesce: keep the oldest arrival time, so latency counts from the first unwritten change
        pending.put(change.key(), new Pending(change, before != null ? before.arrivedNanos : System.nanoTime()));
        queueDepth.set(pending.size());
        if (pending.size() > queueCapacity && (readiness == null || readiness.ready() || !readiness.reason().startsWith("queue"))) {
            publishReadiness(Readiness.notReady(COMPONENT, "queue over capacity: " + pending.size() + " Services waiting"));
        }
        if (pending.size() >= batchSize) {
            flush();
        } else if (lingerTimer < 0) {
            lingerTimer = vertx.setTimer(lingerMs, id -> {
                lingerTimer = -1;
                flush();
            });
        }
    }

    private void flush() {
        if (writing || pending.isEmpty()) {
            return;
        }
        if (lingerTimer >= 0) {
            vertx.cancelTimer(lingerTimer);
            lingerTimer = -1;
        }
        List<ServiceChange> batch = new ArrayList<>(Math.min(batchSize, pending.size()));
        long oldest = Long.MAX_VALUE;
        Iterator<Pending> it = pending.values().iterator();
        while (it.hasNext() && batch.size() < batchSize) {
            Pending p = it.next();
            batch.add(p.change);
            oldest = Math.min(oldest, p.arrivedNanos);
            it.remove();
        }
        queueDepth.set(pending.size());
        write(batch, oldest);
    }

    /** Writes {@code batch} (empty: a retry of the failed frontends) and publishes the outcome. */
    private void write(List<ServiceChange> batch, long firstArrival) {
        writing = true;
        cancelRetry();
        blocking("writing a batch of " + batch.size() + " Services", () -> {
            Set<Object> touched = writer.apply(batch);
            // in the maps now: the way back to the event loop is not part of the latency
            long done = System.nanoTime();
            return new Written(frontendChanges(touched), done);
        }).onComplete(ar -> {
            writing = false;
            NatMapWriter.BatchSizes sizes = writer.lastBatch();
            lastBatchSize = sizes.writes() + sizes.deletes();
            long latency = (ar.succeeded() ? ar.result().doneNanos : System.nanoTime()) - firstArrival;
            if (!batch.isEmpty()) {
                lastBatchServices = batch.size();
                recordLatency(latency);
                syncLatency.record(latency, TimeUnit.NANOSECONDS);
                batchSizes.record(lastBatchSize);
            }
            if (ar.succeeded()) {
                publishBatch(lastBatchSize, batch.size(), latency, ar.result().frontends);
            } else {
                LOG.error("nat-map batch of {} Services failed: {}", batch.size(), ar.cause().toString());
            }
            afterWrite();
        });
    }

    private void afterWrite() {
        if (!pending.isEmpty()) {
            flush();
            return;
        }
        maybeReconcile();
        if (readiness != null && !readiness.ready() && readiness.reason().startsWith("queue") && reconciled) {
            publishReadiness(Readiness.ok(COMPONENT));
        }
        scheduleRetry();
    }

    /**
     * On the worker, after {@code writer.apply(batch)}: the new state of every frontend the batch
     * touched (those of the Services in it, before and after, as the writer reports them: no copy
     * of every Service's frontend keys is kept here) and of every frontend whose failure began or
     * ended; null for a frontend nat-map no longer handles. Costs the batch, not the maps.
     */
    private Map<Object, FrontendState> frontendChanges(Set<Object> touched) {
        Map<Object, FrontendState> changes = new HashMap<>();
        touched.forEach(fk -> changes.put(fk, null));
        Map<Object, String> now = writer.failures();
        now.keySet().forEach(fk -> changes.put(fk, null));
        failures.keySet().forEach(fk -> changes.put(fk, null));
        reportFailures(now);
        failures = now;
        changes.replaceAll((fk, ignored) -> stateOf(fk, now.get(fk)));
        return changes;
    }

    private FrontendState stateOf(Object frontend, String error) {
        OptionalInt id = writer.serviceId(frontend);
        if (error != null) {
            return FrontendState.failed(id.orElse(0), error);
        }
        return id.isPresent() ? FrontendState.programmed(id.getAsInt()) : null;
    }

    private void publishBatch(int entries, int services, long latency, Map<Object, FrontendState> changes) {
        frontends = frontends.with(changes);
        vertx.eventBus().publish(Addresses.NATMAP_BATCH_WRITTEN,
                new BatchWritten(entries, services, latency, frontends));
    }

    /** Failed frontends are written again after a delay that doubles while they keep failing. */
    private void scheduleRetry() {
        if (failures.isEmpty()) {
            retryDelay = RETRY_FIRST;
            return;
        }
        if (retryTimer >= 0 || writing) {
            return;
        }
        long delay = retryDelay.toMillis();
        retryDelay = retryDelay.multipliedBy(2).compareTo(RETRY_MAX) > 0 ? RETRY_MAX : retryDelay.multipliedBy(2);
        retryTimer = vertx.setTimer(delay, id -> {
            retryTimer = -1;
            if (!writing && pending.isEmpty()) {
                LOG.debug("nat-map retrying {} failed frontends", failures.size());
                write(List.of(), System.nanoTime());
            }
        });
    }

    private void cancelRetry() {
        if (retryTimer >= 0) {
            vertx.cancelTimer(retryTimer);
            retryTimer = -1;
        }
    }

    /** After the source's first full sync and once everything before it is written. */
    private void maybeReconcile() {
        if (!sourceSynced || reconciled || writing || !pending.isEmpty()) {
            if (sourceSynced && !reconciled && !pending.isEmpty()) {
                flush();
            }
            return;
        }
        reconciled = true;
        writing = true;
        blocking("reconciling the maps", writer::reconcile).onComplete(ar -> {
            writing = false;
            if (ar.succeeded()) {
                LOG.info("nat-map in sync: {} frontends, {} backends programmed, {} stale entries removed",
                        writer.frontendsProgrammed(), writer.backendsProgrammed(), ar.result());
                publishReadiness(pending.size() > queueCapacity
                        ? Readiness.notReady(COMPONENT, "queue over capacity") : Readiness.ok(COMPONENT));
            } else {
                reconciled = false;
                LOG.error("nat-map reconcile failed: {}", ar.cause().toString());
            }
            if (!pending.isEmpty()) {
                flush();
            } else {
                scheduleRetry();
            }
        });
    }

    /** Logs the frontends whose failure began, changed or ended. */
    private void reportFailures(Map<Object, String> now) {
        for (Map.Entry<Object, String> e : now.entrySet()) {
            if (!e.getValue().equals(failures.get(e.getKey()))) {
                LOG.warn("frontend {} not programmed: {} (retrying)", e.getKey(), e.getValue());
            }
        }
        for (Object k : failures.keySet()) {
            if (!now.containsKey(k)) {
                LOG.info("frontend {} programmed after earlier failure", k);
            }
        }
    }

    private void recordLatency(long nanos) {
        latenciesNanos.addLast(nanos);
        while (latenciesNanos.size() > LATENCY_SAMPLES) {
            latenciesNanos.pollFirst();
        }
    }

    private void publishReadiness(Readiness r) {
        readiness = r;
        vertx.eventBus().publish(Addresses.READINESS, r);
    }

    /** The state of every frontend after the last batch. */
    public FrontendTable frontends() {
        return frontends;
    }

    /** Services (after coalescing) in the last batch written. */
    public int lastBatchServices() {
        return lastBatchServices;
    }

    /** Time from a change's arrival to its batch being in the maps, for recent batches. */
    public List<Long> recentSyncLatenciesNanos() {
        return List.copyOf(latenciesNanos);
    }

    /** Reconciled after the first full sync and nothing waiting. */
    public boolean inSync() {
        return reconciled && queueDepth.get() == 0 && !writing;
    }

    @Override
    public Future<?> stop() {
        for (MessageConsumer<?> c : consumers) {
            c.unregister();
        }
        consumers.clear();
        for (long timer : new long[] {lingerTimer, retryTimer, heartbeatTimer}) {
            if (timer >= 0) {
                vertx.cancelTimer(timer);
            }
        }
        lingerTimer = retryTimer = heartbeatTimer = -1;
        meters.forEach(registry::remove);
        meters.clear();
        WorkerExecutor w = worker;
        worker = null;
        return w == null ? Future.succeededFuture() : w.close();
    }
}
