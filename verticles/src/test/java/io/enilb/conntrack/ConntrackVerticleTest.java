package io.enilb.conntrack;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import io.enilb.bus.Addresses;
import io.enilb.bus.LocalCodecs;
import io.enilb.bus.Readiness;
import io.enilb.conntrack.ConntrackTable.Lifetimes;
import io.enilb.conntrack.ConntrackTable.Sweep;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Vertx;
import io.vertx.junit5.Checkpoint;
import io.vertx.junit5.Timeout;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** The GC verticle over an in-memory table: lifetimes written, passes, meters, the table-full report. */
@ExtendWith(VertxExtension.class)
@Timeout(value = 20, timeUnit = TimeUnit.SECONDS)
class ConntrackVerticleTest {
    private static final GcInterval FAST = new GcInterval(Duration.ofMillis(20), Duration.ofMillis(200));

    /** Entries with an expiry, swept like the kernel table; counts CT_FULL drops the test sets. */
    private static final class FakeTable implements ConntrackTable {
        final Map<Integer, Long> expiries = new HashMap<>();
        final AtomicReference<Lifetimes> written = new AtomicReference<>();
        final AtomicLong drops = new AtomicLong();
        final AtomicLong passes = new AtomicLong();
        volatile String sweepThread;
        final int capacity;

        FakeTable(int capacity) {
            this.capacity = capacity;
        }

        @Override
        public synchronized Sweep sweep(long nowNs) {
            sweepThread = Thread.currentThread().getName();
            int before = expiries.size();
            expiries.values().removeIf(expires -> expires < nowNs);
            passes.incrementAndGet();
            return new Sweep(before, before - expiries.size(), expiries.size(), capacity, Duration.ofMillis(1));
        }

        @Override
        public long fullDrops() {
            return drops.get();
        }

        @Override
        public void writeLifetimes(Lifetimes lifetimes) {
            written.set(lifetimes);
        }
    }

    @BeforeEach
    void codecs(Vertx vertx) {
        LocalCodecs.register(vertx.eventBus());
    }

    @Test
    void writesTheLifetimesThenRemovesExpiredEntriesOffTheEventLoopAndCountsThem(Vertx vertx, VertxTestContext ctx) {
        FakeTable table = new FakeTable(100);
        long now = System.nanoTime();
        for (int i = 0; i < 30; i++) {
            table.expiries.put(i, i < 20 ? now - 1 : now + TimeUnit.HOURS.toNanos(1));
        }
        MeterRegistry registry = new SimpleMeterRegistry();
        Lifetimes lifetimes = new Lifetimes(Duration.ofSeconds(5), Duration.ofHours(1), Duration.ofSeconds(3), Duration.ofSeconds(7));
        vertx.deployVerticle(new ConntrackVerticle(table, lifetimes, FAST, registry)).onComplete(ctx.succeeding(id ->
                vertx.setPeriodic(5, t -> {
                    if (table.passes.get() < 2) {
                        return;
                    }
                    vertx.cancelTimer(t);
                    ctx.verify(() -> {
                        assertThat(table.written.get()).isEqualTo(lifetimes);
                        assertThat(table.sweepThread).startsWith("enilb-conntrack-gc");
                        assertThat(registry.get("enilb.conntrack.gc.removed").counter().count()).isEqualTo(20);
                        assertThat(registry.get("enilb.conntrack.gc.runs").counter().count()).isGreaterThanOrEqualTo(1);
                        assertThat(registry.get("enilb.conntrack.entries").gauge().value()).isEqualTo(10);
                        assertThat(registry.get("enilb.conntrack.capacity").gauge().value()).isEqualTo(100);
                        assertThat(registry.get("enilb.conntrack.pressure").gauge().value()).isEqualTo(0.1);
                    });
                    vertx.undeploy(id).onComplete(ctx.succeeding(x -> ctx.verify(() -> {
                        assertThat(registry.find("enilb.conntrack.gc.runs").counter()).as("meters removed at stop").isNull();
                        ctx.completeNow();
                    })));
                })));
    }

    @Test
    void refusedNewFlowsMakeItNotReadyWithTheReasonUntilTheyStop(Vertx vertx, VertxTestContext ctx) {
        FakeTable table = new FakeTable(10);
        long later = System.nanoTime() + TimeUnit.HOURS.toNanos(1);
        for (int i = 0; i < 10; i++) {
            table.expiries.put(i, later);
        }
        MeterRegistry registry = new SimpleMeterRegistry();
        Checkpoint refused = ctx.checkpoint();
        Checkpoint acceptsAgain = ctx.checkpoint();
        AtomicBoolean wasRefusing = new AtomicBoolean();
        vertx.eventBus().<Readiness>localConsumer(Addresses.READINESS, m -> ctx.verify(() -> {
            Readiness r = m.body();
            if (!r.component().equals(ConntrackVerticle.COMPONENT)) {
                return;
            }
            if (!r.ready()) {
                assertThat(r.reason()).contains("conntrack table full of live flows (10 of 10 entries)");
                assertThat(registry.get("enilb.conntrack.full.drops").functionCounter().count()).isEqualTo(3);
                wasRefusing.set(true);
                refused.flag();
                // the datapath stops refusing: the next pass without new drops reports ready
            } else if (wasRefusing.get()) {
                acceptsAgain.flag();
            }
        }));
        vertx.deployVerticle(new ConntrackVerticle(table, Lifetimes.DEFAULTS, FAST, registry))
                .onComplete(ctx.succeeding(id -> vertx.setTimer(50, t -> table.drops.set(3))));
    }
}
