package io.enilb.natmap;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.atomic.AtomicInteger;

import io.enilb.bus.Addresses;
import io.enilb.bus.LocalCodecs;
import io.enilb.bus.Readiness;
import io.enilb.bus.SyncState;
import io.enilb.health.NatMapStats;
import io.enilb.model.Protocol;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import io.enilb.model.ServiceChange;
import io.enilb.model.ServiceKey;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.MessageConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Batches Service changes into map writes. Changes are coalesced by Service (the last one wins,
 * a delete supersedes); a batch closes when it reaches {@code batchSize} Services or
 * {@code lingerMs} after its first change, and is written by {@link NatMapWriter} on a worker,
 * one batch at a time, in arrival order. After the source's first full sync the maps are
 * reconciled (what no Service owns is removed) and the verticle reports ready. A queue above its
 * capacity is reported as not ready, and nothing is dropped.
 */
public final class NatMapVerticle extends VerticleBase implements NatMapStats {
    public static final String COMPONENT = "nat-map";
    private static final Logger LOG = LoggerFactory.getLogger(NatMapVerticle.class);
    private static final int LATENCY_SAMPLES = 4096;

    private final NatMapWriter writer;
    private final int batchSize;
    private final long lingerMs;
    private final int queueCapacity;

    /** Pending changes in arrival order of their Service's first pending change; event-loop only. */
    private final LinkedHashMap<ServiceKey, Pending> pending = new LinkedHashMap<>();
    private final AtomicInteger queueDepth = new AtomicInteger();
    private final ConcurrentLinkedDeque<Long> latenciesNanos = new ConcurrentLinkedDeque<>();
    private final List<MessageConsumer<?>> consumers = new ArrayList<>();
    private final List<BatchListener> listeners = new CopyOnWriteArrayList<>();
    private volatile int lastBatchSize;
    private volatile int lastBatchServices;
    private volatile Map<Object, String> failures = Map.of();
    private long lingerTimer = -1;
    private volatile boolean writing;
    private boolean sourceSynced;
    private volatile boolean reconciled;
    private Readiness readiness;

    private record Pending(ServiceChange change, long arrivedNanos) {
    }

    public NatMapVerticle(NatMaps maps, int batchSize, int lingerMs, int queueCapacity) {
        this.writer = new NatMapWriter(maps);
        this.batchSize = batchSize;
        this.lingerMs = Math.max(1, lingerMs);
        this.queueCapacity = queueCapacity;
    }

    public NatMapWriter writer() {
        return writer;
    }

    @Override
    public Future<?> start() {
        LocalCodecs.register(vertx.eventBus());
        publishReadiness(Readiness.notReady(COMPONENT, "waiting for the first full sync"));
        return vertx.executeBlocking(() -> {
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
        });
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
        writing = true;
        long firstArrival = oldest;
        vertx.executeBlocking(() -> {
            writer.apply(batch);
            return writer.failures();
        }).onComplete(ar -> {
            writing = false;
            NatMapWriter.BatchSizes sizes = writer.lastBatch();
            lastBatchSize = sizes.writes() + sizes.deletes();
            lastBatchServices = batch.size();
            long latency = System.nanoTime() - firstArrival;
            recordLatency(latency);
            for (BatchListener l : listeners) {
                l.batchWritten(lastBatchSize, latency);
            }
            if (ar.succeeded()) {
                reportFailures(ar.result());
            } else {
                LOG.error("nat-map batch of {} Services failed: {}", batch.size(), ar.cause().toString());
            }
            if (!pending.isEmpty()) {
                flush();
            } else {
                maybeReconcile();
                if (readiness != null && !readiness.ready() && readiness.reason().startsWith("queue") && reconciled) {
                    publishReadiness(Readiness.ok(COMPONENT));
                }
            }
        });
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
        vertx.executeBlocking(writer::reconcile).onComplete(ar -> {
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
            }
        });
    }

    private void reportFailures(Map<Object, String> now) {
        for (Map.Entry<Object, String> e : now.entrySet()) {
            if (!e.getValue().equals(failures.get(e.getKey()))) {
                LOG.warn("frontend {} not programmed: {}", e.getKey(), e.getValue());
            }
        }
        for (Object k : failures.keySet()) {
            if (!now.containsKey(k)) {
                LOG.info("frontend {} programmed after earlier failure", k);
            }
        }
        failures = Map.copyOf(now);
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

    // --- NatMapStats, read from any thread

    @Override
    public int queueDepth() {
        return queueDepth.get();
    }

    @Override
    public int lastBatchSize() {
        return lastBatchSize;
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
        Object key = writer.frontendKey(clusterIp, port, protocol.number);
        String error = failures.get(key);
        java.util.OptionalInt id = writer.serviceId(key);
        if (error != null) {
            return Optional.of(FrontendState.failed(id.orElse(0), error));
        }
        return id.isPresent() ? Optional.of(FrontendState.programmed(id.getAsInt())) : Optional.empty();
    }

    /** Services (after coalescing) in the last batch written. */
    public int lastBatchServices() {
        return lastBatchServices;
    }

    /** Time from a change's arrival to its batch being in the maps, for recent batches. */
    public List<Long> recentSyncLatenciesNanos() {
        return List.copyOf(latenciesNanos);
    }

    /** Frontends that could not be programmed (a full map), with the reason. */
    public Map<Object, String> failures() {
        return failures;
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
        if (lingerTimer >= 0) {
            vertx.cancelTimer(lingerTimer);
            lingerTimer = -1;
        }
        return Future.succeededFuture();
    }
}
