package io.enilb.natmap;

import static io.enilb.natmap.Fixtures.active;
import static io.enilb.natmap.Fixtures.frontend;
import static io.enilb.natmap.Fixtures.svc;
import static io.enilb.natmap.Fixtures.tcp;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import io.enilb.bpf.Structs.SvcKey;
import io.enilb.bpf.Structs.SvcValue;
import io.enilb.bus.Addresses;
import io.enilb.bus.LocalCodecs;
import io.enilb.bus.Readiness;
import io.enilb.bus.SyncState;
import io.enilb.model.Protocol;
import io.enilb.model.ServiceChange;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The verticle around the writer: batching, coalescing, reconcile after sync, readiness, overflow. */
class NatMapVerticleTest {
    private Vertx vertx;
    private final List<Readiness> readiness = new CopyOnWriteArrayList<>();

    @BeforeEach
    void start() {
        vertx = Vertx.vertx();
        LocalCodecs.register(vertx.eventBus());
        vertx.eventBus().<Readiness>localConsumer(Addresses.READINESS, m -> readiness.add(m.body()));
    }

    @AfterEach
    void stop() throws Exception {
        vertx.close().await(10, TimeUnit.SECONDS);
    }

    private NatMapVerticle deploy(NatMaps maps, int batch, int lingerMs, int capacity) throws Exception {
        NatMapVerticle v = new NatMapVerticle(maps, batch, lingerMs, capacity);
        vertx.deployVerticle(v).await(10, TimeUnit.SECONDS);
        return v;
    }

    private void publish(ServiceChange c) {
        vertx.runOnContext(x -> vertx.eventBus().publish(Addresses.SERVICES_CHANGED, c));
    }

    private Readiness last() {
        return readiness.get(readiness.size() - 1);
    }

    @Test
    void changesReachTheMapsAndSyncReconcilesAndMakesReady() throws Exception {
        NatMaps maps = NatMaps.inMemory(64, 256);
        // left behind by an earlier run: no Service owns it, reconcile must remove it
        SvcKey stale = frontend("198.19.9.9", 80, Protocol.TCP);
        maps.services().put(stale, new SvcValue(63, 0, 0, 0));
        NatMapVerticle v = deploy(maps, 100, 5, 1000);
        assertThat(last().ready()).isFalse();

        publish(Fixtures.upsert(svc("web", "198.19.0.10", 0, tcp(80, active("198.18.0.21", 8080)))).get(0));
        await().atMost(Duration.ofSeconds(5)).until(() -> maps.services().get(frontend("198.19.0.10", 80, Protocol.TCP)).isPresent());
        assertThat(maps.services().get(stale)).as("stale kept until the first full sync").isPresent();

        vertx.runOnContext(x -> vertx.eventBus().publish(Addresses.SOURCE_SYNC, new SyncState("file", true)));
        await().atMost(Duration.ofSeconds(5)).until(() -> last().ready());
        assertThat(maps.services().get(stale)).isEmpty();
        assertThat(v.inSync()).isTrue();
        assertThat(v.recentSyncLatenciesNanos()).isNotEmpty();
    }

    @Test
    void changesToOneServiceCoalesceAndTheLastWins() throws Exception {
        NatMaps maps = NatMaps.inMemory(64, 256);
        NatMapVerticle v = deploy(maps, 1000, 50, 1000);
        vertx.runOnContext(x -> {
            for (int i = 1; i <= 40; i++) {
                vertx.eventBus().publish(Addresses.SERVICES_CHANGED,
                        Fixtures.upsert(svc("web", "198.19.0.10", 0, tcp(80, active("198.18.0." + i, 8080)))).get(0));
            }
        });
        await().atMost(Duration.ofSeconds(5)).until(() -> v.lastBatchServices() > 0);
        assertThat(v.lastBatchServices()).isEqualTo(1);
        assertThat(maps.backends().entries().values()).singleElement()
                .satisfies(b -> assertThat(io.enilb.bpf.Ipv4.format(b.addr())).isEqualTo("198.18.0.40"));
    }

    @Test
    void aQueueOverCapacityIsNotReadyAndLosesNothing() throws Exception {
        NatMaps maps = NatMaps.inMemory(64, 256);
        deploy(maps, 1000, 200, 3);
        vertx.runOnContext(x -> {
            vertx.eventBus().publish(Addresses.SOURCE_SYNC, new SyncState("file", true));
            for (int i = 1; i <= 10; i++) {
                vertx.eventBus().publish(Addresses.SERVICES_CHANGED,
                        Fixtures.upsert(svc("s" + i, "198.19.0." + i, 0, tcp(80, active("198.18.0.9", 8080)))).get(0));
            }
        });
        await().atMost(Duration.ofSeconds(5)).until(() -> readiness.stream()
                .anyMatch(r -> !r.ready() && r.reason().startsWith("queue over capacity")));
        await().atMost(Duration.ofSeconds(5)).until(() -> maps.services().entries().size() == 10 && last().ready());
    }
}
