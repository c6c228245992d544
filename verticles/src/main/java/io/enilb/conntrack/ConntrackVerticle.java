package io.enilb.conntrack;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import io.enilb.bus.Addresses;
import io.enilb.bus.LocalCodecs;
import io.enilb.bus.Readiness;
import io.enilb.conntrack.ConntrackTable.Lifetimes;
import io.enilb.conntrack.ConntrackTable.Sweep;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.WorkerExecutor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * conntrack: writes the configured lifetimes into the datapath at start, then garbage-collects
 * the conntrack table. The table is a preallocated hash map that never evicts (a full table
 * refuses NEW flows and never drops a live one), so expired entries must be removed before they
 * fill it: a pass runs at once, then at an interval that adapts to what the passes find
 * ({@link GcInterval}); a rise of the datapath's CT_FULL drops, polled every
 * {@code gc-interval-min}, runs a pass at once.
 *
 * <p>Passes run on a worker executor of their own with one thread (batched map syscalls over up
 * to millions of entries: never on an event loop, never two at once). While NEW flows are being
 * refused because the table is full of live flows, the verticle reports readiness "conntrack"
 * not ready with the reason and logs it at most once a minute, as netfilter's "table full,
 * dropping packet".
 *
 * <p>Meters (registered here): {@code enilb_conntrack_entries}, {@code _capacity},
 * {@code _pressure} (live / capacity), {@code _gc_runs_total}, {@code _gc_removed_total},
 * {@code _gc_duration_seconds}, {@code _gc_interval_seconds}, {@code _full_drops_total}.
 */
public final class ConntrackVerticle extends VerticleBase {
    public static final String COMPONENT = "conntrack";
    private static final Logger LOG = LoggerFactory.getLogger(ConntrackVerticle.class);
    private static final Duration FULL_LOG_EVERY = Duration.ofMinutes(1);
    /** A pass over millions of entries may take long; Vert.x warns only beyond this. */
    private static final long MAX_PASS_MINUTES = 10;

    private final ConntrackTable table;
    private final Lifetimes lifetimes;
    private final GcInterval interval;
    private final MeterRegistry registry;
    private final List<Meter> meters = new ArrayList<>();

    private final AtomicLong entries = new AtomicLong();
    private final AtomicLong capacity = new AtomicLong();
    private final AtomicLong fullDrops = new AtomicLong();
    private Counter runs;
    private Counter removed;
    private Timer passDuration;

    private WorkerExecutor worker;
    private Duration current;
    private long passTimer = -1;
    private long pollTimer = -1;
    private boolean sweeping;
    private boolean stopped;
    /** The previous pass: when it ended and what it left (growth between passes). */
    private long previousEndNs;
    private long previousLive = -1;
    /** CT_FULL drops seen at the end of the previous pass. */
    private long dropsAtPreviousPass = -1;
    private boolean refusing;
    private long refusedSinceLog;
    private long lastFullLogNs;

    public ConntrackVerticle(ConntrackTable table, Lifetimes lifetimes, GcInterval interval, MeterRegistry registry) {
        this.table = table;
        this.lifetimes = lifetimes;
        this.interval = interval;
        this.registry = registry;
        this.current = interval.initial();
    }

    @Override
    public Future<?> start() {
        LocalCodecs.register(vertx.eventBus());
        registerMeters();
        worker = vertx.createSharedWorkerExecutor("enilb-conntrack-gc", 1, MAX_PASS_MINUTES, TimeUnit.MINUTES);
        return worker.executeBlocking(() -> {
            table.writeLifetimes(lifetimes);
            return null;
        }).onSuccess(v -> {
            LOG.info("conntrack lifetimes: tcp syn {} s, established {} s, closing {} s, other {} s; GC every {}..{} s",
                    lifetimes.tcpSyn().toSeconds(), lifetimes.tcpEstablished().toSeconds(),
                    lifetimes.tcpClosing().toSeconds(), lifetimes.other().toSeconds(),
                    interval.min().toSeconds(), interval.max().toSeconds());
            publish(Readiness.ok(COMPONENT));
            pollTimer = vertx.setPeriodic(interval.min().toMillis(), id -> pollDrops());
            pass();
        });
    }

    /** Runs one pass on the GC thread and schedules the next from what it found. */
    private void pass() {
        if (stopped || sweeping) {
            return;
        }
        if (passTimer >= 0) {
            vertx.cancelTimer(passTimer);
            passTimer = -1;
        }
        sweeping = true;
        worker.executeBlocking(() -> {
            Sweep sweep = table.sweep(System.nanoTime());
            return new Pass(sweep, table.fullDrops(), System.nanoTime());
        }).onComplete(ar -> {
            sweeping = false;
            if (stopped) {
                return;
            }
            if (ar.succeeded()) {
                account(ar.result());
            } else {
                LOG.warn("conntrack GC pass failed: {}; retrying in {} s", ar.cause().getMessage(), interval.min().toSeconds());
                current = interval.min();
            }
            passTimer = vertx.setTimer(current.toMillis(), id -> {
                passTimer = -1;
                pass();
            });
        });
    }

    private record Pass(Sweep sweep, long fullDrops, long endNs) {
    }

    private void account(Pass p) {
        Sweep s = p.sweep();
        runs.increment();
        removed.increment(s.removed());
        passDuration.record(s.elapsed());
        entries.set(s.live());
        capacity.set(s.capacity());
        fullDrops.set(p.fullDrops());
        boolean newlyFull = dropsAtPreviousPass >= 0 && p.fullDrops() > dropsAtPreviousPass;
        double growth = 0;
        if (previousLive >= 0 && p.endNs() > previousEndNs) {
            // entries before this pass minus those the previous one left: created in between
            growth = Math.max(0, s.scanned() - previousLive) / ((p.endNs() - previousEndNs) / 1e9);
        }
        current = interval.next(current, s, growth, newlyFull);
        LOG.debug("conntrack GC: {} scanned, {} removed, {} live of {} in {} ms; next in {} ms", s.scanned(),
                s.removed(), s.live(), s.capacity(), s.elapsed().toMillis(), current.toMillis());
        refusing(newlyFull, p.fullDrops() - Math.max(0, dropsAtPreviousPass), s);
        dropsAtPreviousPass = p.fullDrops();
        previousLive = s.live();
        previousEndNs = p.endNs();
    }

    /** Between passes: a rise of CT_FULL drops means the table refuses flows now; clear it at once. */
    private void pollDrops() {
        if (stopped || sweeping || dropsAtPreviousPass < 0) {
            return;
        }
        worker.executeBlocking(table::fullDrops).onSuccess(drops -> {
            fullDrops.set(drops);
            if (drops > dropsAtPreviousPass) {
                pass();
            }
        });
    }

    /** Readiness and a rate-limited log line while NEW flows are refused. */
    private void refusing(boolean now, long refused, Sweep s) {
        if (now) {
            refusedSinceLog += refused;
            String reason = "conntrack table full of live flows (" + s.live() + " of " + s.capacity()
                    + " entries): NEW flows are refused";
            if (!refusing) {
                publish(Readiness.notReady(COMPONENT, reason));
            }
            long nowNs = System.nanoTime();
            if (!refusing || nowNs - lastFullLogNs >= FULL_LOG_EVERY.toNanos()) {
                LOG.warn("{}; {} refused since the last report (raise bpf.ct-size or shorten conntrack lifetimes)",
                        reason, refusedSinceLog);
                lastFullLogNs = nowNs;
                refusedSinceLog = 0;
            }
            refusing = true;
        } else if (refusing) {
            refusing = false;
            refusedSinceLog = 0;
            LOG.info("conntrack table accepts NEW flows again ({} of {} entries live)", s.live(), s.capacity());
            publish(Readiness.ok(COMPONENT));
        }
    }

    private void registerMeters() {
        meters.add(Gauge.builder("enilb.conntrack.entries", entries, AtomicLong::get)
                .description("Live conntrack entries after the last GC pass").register(registry));
        meters.add(Gauge.builder("enilb.conntrack.capacity", capacity, AtomicLong::get)
                .description("Conntrack table capacity (bpf.ct-size)").register(registry));
        meters.add(Gauge.builder("enilb.conntrack.pressure", this,
                        v -> v.capacity.get() == 0 ? 0 : (double) v.entries.get() / v.capacity.get())
                .description("Live conntrack entries over capacity, 0..1").register(registry));
        meters.add(Gauge.builder("enilb.conntrack.gc.interval", this, v -> v.current.toMillis() / 1000.0)
                .baseUnit("seconds").description("Time until the next conntrack GC pass").register(registry));
        meters.add(FunctionCounter.builder("enilb.conntrack.full.drops", fullDrops, AtomicLong::get)
                .description("NEW flows refused because the conntrack table was full").register(registry));
        runs = Counter.builder("enilb.conntrack.gc.runs").description("Conntrack GC passes").register(registry);
        removed = Counter.builder("enilb.conntrack.gc.removed").description("Expired conntrack entries removed")
                .register(registry);
        passDuration = Timer.builder("enilb.conntrack.gc.duration").description("Time a conntrack GC pass takes")
                .register(registry);
        meters.add(runs);
        meters.add(removed);
        meters.add(passDuration);
    }

    private void publish(Readiness r) {
        vertx.eventBus().publish(Addresses.READINESS, r);
    }

    @Override
    public Future<?> stop() {
        if (stopped) {
            return Future.succeededFuture();
        }
        stopped = true;
        if (passTimer >= 0) {
            vertx.cancelTimer(passTimer);
        }
        if (pollTimer >= 0) {
            vertx.cancelTimer(pollTimer);
        }
        meters.forEach(registry::remove);
        meters.clear();
        return worker == null ? Future.succeededFuture() : worker.close();
    }
}
