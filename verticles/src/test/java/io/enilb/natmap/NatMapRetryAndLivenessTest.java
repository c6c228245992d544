package io.enilb.natmap;

import static io.enilb.natmap.Fixtures.active;
import static io.enilb.natmap.Fixtures.svc;
import static io.enilb.natmap.Fixtures.tcp;
import static org.assertj.core.api.Assertions.assertThat;

import io.enilb.bpf.InMemoryMap;
import io.enilb.bpf.Structs.SvcKey;
import io.enilb.bpf.Structs.SvcValue;
import io.enilb.bus.Addresses;
import io.enilb.bus.BatchWritten;
import io.enilb.bus.FrontendState;
import io.enilb.bus.Liveness;
import io.enilb.bus.LivenessMonitor;
import io.enilb.bus.LocalCodecs;
import io.enilb.model.Protocol;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Vertx;
import io.vertx.junit5.Checkpoint;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** nat-map heals failed frontends on its own, and says so when its worker stops making progress. */
@ExtendWith(VertxExtension.class)
class NatMapRetryAndLivenessTest {
    private static final SvcKey WEB_80 = Fixtures.frontend("198.19.0.10", 80, Protocol.TCP);

    private final GatedMap<SvcKey, SvcValue> services = new GatedMap<>("enilb_svc4_v2", 64);
    private final NatMaps maps = new NatMaps(services, new InMemoryMap<>("enilb_slot4_v2", 256),
            new InMemoryMap<>("enilb_be4_v2", 256), new InMemoryMap<>("enilb_rnat4_v2", 64),
            new InMemoryMap<>("enilb_vip4_v2", 64), svcId -> { });
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();

    @BeforeEach
    void codecs(Vertx vertx) {
        LocalCodecs.register(vertx.eventBus());
    }

    private void deploy(Vertx vertx, VertxTestContext ctx, Duration stuckAfter, Runnable then) {
        vertx.deployVerticle(new NatMapVerticle(maps, 100, 1, 1000, registry, stuckAfter))
                .onComplete(ctx.succeeding(id -> then.run()));
    }

    private static void publishWeb(Vertx vertx) {
        vertx.eventBus().publish(Addresses.SERVICES_CHANGED,
                Fixtures.upsert(svc("web", "198.19.0.10", 0, tcp(80, active("198.18.0.21", 8080)))).get(0));
    }

    @Test
    void aFrontendRefusedAsFullIsRetriedOnATimerUntilItIsProgrammed(Vertx vertx, VertxTestContext ctx) {
        services.refuse(3);
        Checkpoint reportedFailed = ctx.checkpoint();
        Checkpoint healed = ctx.checkpoint();
        boolean[] failedSeen = {false};
        vertx.eventBus().<BatchWritten>localConsumer(Addresses.NATMAP_BATCH_WRITTEN, m -> ctx.verify(() -> {
            Optional<FrontendState> state = m.body().frontends().get(WEB_80);
            if (state.isPresent() && !state.get().programmed() && !failedSeen[0]) {
                failedSeen[0] = true;
                assertThat(state.get().error()).contains("enilb_svc4_v2 is full");
                assertThat(registry.get("enilb.natmap.failed.frontends").gauge().value()).isEqualTo(1);
                reportedFailed.flag();
            } else if (state.isPresent() && state.get().programmed() && failedSeen[0]) {
                // no change arrived after the first: only the retry timer can have written it
                assertThat(services.get(WEB_80)).isPresent();
                assertThat(m.body().frontends().failing()).isZero();
                healed.flag();
            }
        }));
        deploy(vertx, ctx, Duration.ofSeconds(30), () -> publishWeb(vertx));
    }

    @Test
    void aWorkerStuckInANativeCallMakesTheHeartbeatSayStuck(Vertx vertx, VertxTestContext ctx) {
        services.close();
        LivenessMonitor monitor = new LivenessMonitor(Duration.ofSeconds(10));
        Checkpoint stuck = ctx.checkpoint();
        Checkpoint aliveAgain = ctx.checkpoint();
        boolean[] stuckSeen = {false};
        vertx.eventBus().<Liveness>localConsumer(Addresses.LIVENESS, m -> ctx.verify(() -> {
            monitor.update(m.body());
            if (!m.body().alive() && !stuckSeen[0]) {
                stuckSeen[0] = true;
                assertThat(m.body().component()).isEqualTo(NatMapVerticle.COMPONENT);
                assertThat(m.body().stuck()).startsWith("writing a batch of 1 Services running for");
                // what the daemon's watchdog and /healthz ask
                assertThat(monitor.alive()).isFalse();
                assertThat(monitor.problems()).containsOnlyKeys("nat-map");
                stuck.flag();
                services.open();
            } else if (m.body().alive() && stuckSeen[0]) {
                assertThat(monitor.alive()).isTrue();
                aliveAgain.flag();
            }
        }));
        deploy(vertx, ctx, Duration.ofMillis(200), () -> {
            publishWeb(vertx);
            vertx.executeBlocking(() -> services.held.await(10, TimeUnit.SECONDS))
                    .onComplete(ctx.succeeding(held -> ctx.verify(() -> assertThat(held).isTrue())));
        });
    }
}
