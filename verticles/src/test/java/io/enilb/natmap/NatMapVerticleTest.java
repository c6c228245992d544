package io.enilb.natmap;

import static io.enilb.natmap.Fixtures.active;
import static io.enilb.natmap.Fixtures.frontend;
import static io.enilb.natmap.Fixtures.svc;
import static io.enilb.natmap.Fixtures.tcp;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;

import io.enilb.bpf.Ipv4;
import io.enilb.bpf.Structs.SvcKey;
import io.enilb.bpf.Structs.SvcValue;
import io.enilb.bus.Addresses;
import io.enilb.bus.LocalCodecs;
import io.enilb.bus.Readiness;
import io.enilb.bus.SyncState;
import io.enilb.model.Protocol;
import io.enilb.model.ServiceChange;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.junit5.Checkpoint;
import io.vertx.junit5.Timeout;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The verticle around the writer: batching, coalescing, reconcile after sync, readiness, overflow.
 * Assertions run on the event loop through {@link VertxTestContext#verify}, so one that fails
 * inside a handler fails the test at once.
 */
@ExtendWith(VertxExtension.class)
@Timeout(value = 20, timeUnit = TimeUnit.SECONDS)
class NatMapVerticleTest {

    @BeforeEach
    void codecs(Vertx vertx) {
        LocalCodecs.register(vertx.eventBus());
    }

    private static void publish(Vertx vertx, String address, Object body) {
        vertx.runOnContext(x -> vertx.eventBus().publish(address, body));
    }

    private static ServiceChange web(String backend) {
        return Fixtures.upsert(svc("web", "198.19.0.10", 0, tcp(80, active(backend, 8080)))).get(0);
    }

    /** Completes once {@code condition} holds, checking it on the event loop every 5 ms. */
    private static Future<Void> eventually(Vertx vertx, BooleanSupplier condition) {
        Promise<Void> done = Promise.promise();
        vertx.setPeriodic(0, 5, id -> {
            if (condition.getAsBoolean()) {
                vertx.cancelTimer(id);
                done.tryComplete();
            }
        });
        return done.future();
    }

    @Test
    void changesReachTheMapsAndSyncReconcilesAndMakesReady(Vertx vertx, VertxTestContext ctx) {
        NatMaps maps = NatMaps.inMemory(64, 256);
        // left behind by an earlier run: no Service owns it, reconcile must remove it
        SvcKey stale = frontend("198.19.9.9", 80, Protocol.TCP);
        maps.services().put(stale, new SvcValue(63, 0, 0, 0));
        NatMapVerticle v = new NatMapVerticle(maps, 100, 5, 1000);
        Checkpoint notReadyFirst = ctx.checkpoint();
        Checkpoint readyAfterSync = ctx.checkpoint();
        vertx.eventBus().<Readiness>localConsumer(Addresses.READINESS, m -> ctx.verify(() -> {
            if (!m.body().ready()) {
                assertThat(m.body().reason()).isEqualTo("waiting for the first full sync");
                notReadyFirst.flag();
            } else {
                assertThat(maps.services().get(stale)).isEmpty();
                assertThat(v.inSync()).isTrue();
                assertThat(v.recentSyncLatenciesNanos()).isNotEmpty();
                readyAfterSync.flag();
            }
        }));
        SvcKey written = frontend("198.19.0.10", 80, Protocol.TCP);
        vertx.deployVerticle(v)
                .compose(id -> {
                    publish(vertx, Addresses.SERVICES_CHANGED, web("198.18.0.21"));
                    return eventually(vertx, () -> maps.services().get(written).isPresent());
                })
                .onComplete(ctx.succeeding(x -> {
                    ctx.verify(() -> assertThat(maps.services().get(stale)).as("stale kept until the first full sync").isPresent());
                    publish(vertx, Addresses.SOURCE_SYNC, new SyncState("file", true));
                }));
    }

    @Test
    void changesToOneServiceCoalesceAndTheLastWins(Vertx vertx, VertxTestContext ctx) {
        NatMaps maps = NatMaps.inMemory(64, 256);
        NatMapVerticle v = new NatMapVerticle(maps, 1000, 50, 1000);
        vertx.deployVerticle(v)
                .compose(id -> {
                    vertx.runOnContext(x -> {
                        for (int i = 1; i <= 40; i++) {
                            vertx.eventBus().publish(Addresses.SERVICES_CHANGED, web("198.18.0." + i));
                        }
                    });
                    return eventually(vertx, () -> v.lastBatchServices() > 0);
                })
                .onComplete(ctx.succeeding(x -> ctx.verify(() -> {
                    assertThat(v.lastBatchServices()).isEqualTo(1);
                    assertThat(maps.backends().entries().values()).singleElement()
                            .satisfies(b -> assertThat(Ipv4.format(b.addr())).isEqualTo("198.18.0.40"));
                    ctx.completeNow();
                })));
    }

    @Test
    void aQueueOverCapacityIsNotReadyAndLosesNothing(Vertx vertx, VertxTestContext ctx) {
        NatMaps maps = NatMaps.inMemory(64, 256);
        Checkpoint readyWithEverything = ctx.checkpoint();
        AtomicBoolean overflowReported = new AtomicBoolean();
        AtomicBoolean readyOnce = new AtomicBoolean();
        vertx.eventBus().<Readiness>localConsumer(Addresses.READINESS, m -> ctx.verify(() -> {
            Readiness r = m.body();
            if (!r.ready() && r.reason().startsWith("queue over capacity")) {
                overflowReported.set(true);
            } else if (r.ready() && overflowReported.get() && !readyOnce.getAndSet(true)) {
                // ready again once the queue drained (a ready after the reconcile may come first)
                assertThat(maps.services().entries()).as("nothing dropped").hasSize(10);
                readyWithEverything.flag();
            }
        }));
        vertx.deployVerticle(new NatMapVerticle(maps, 1000, 200, 3)).onComplete(ctx.succeeding(id ->
                vertx.runOnContext(x -> {
                    vertx.eventBus().publish(Addresses.SOURCE_SYNC, new SyncState("file", true));
                    for (int i = 1; i <= 10; i++) {
                        vertx.eventBus().publish(Addresses.SERVICES_CHANGED, Fixtures.upsert(
                                svc("s" + i, "198.19.0." + i, 0, tcp(80, active("198.18.0.9", 8080)))).get(0));
                    }
                })));
    }
}
