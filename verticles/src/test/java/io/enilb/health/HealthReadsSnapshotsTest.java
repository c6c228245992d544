package io.enilb.health;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.enilb.bpf.InMemoryMap;
import io.enilb.bpf.Structs.SvcKey;
import io.enilb.bpf.Structs.SvcValue;
import io.enilb.bus.Addresses;
import io.enilb.bus.LocalCodecs;
import io.enilb.model.Backend;
import io.enilb.model.NormalizedService;
import io.enilb.model.Protocol;
import io.enilb.model.ServiceChange;
import io.enilb.model.ServiceKey;
import io.enilb.model.ServicePort;
import io.enilb.natmap.GatedMap;
import io.enilb.natmap.NatMapVerticle;
import io.enilb.natmap.NatMaps;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpMethod;
import io.vertx.junit5.Checkpoint;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * health with the real nat-map on one registry, as in the daemon: while a batch is held inside a
 * map write (a native call that does not return), /metrics and /v1/services still answer at once,
 * and /healthz names nat-map once the write has been stuck for longer than its limit.
 */
@ExtendWith(VertxExtension.class)
class HealthReadsSnapshotsTest {
    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final GatedMap<SvcKey, SvcValue> services = new GatedMap<>("enilb_svc4_v2", 64);

    @AfterEach
    void release() {
        services.open();
        registry.close();
    }

    private static ServiceChange web() {
        ServiceKey key = new ServiceKey("default", "web");
        return new ServiceChange(key, new NormalizedService(key, "198.19.0.10", List.of(new ServicePort("http",
                Protocol.TCP, 80, List.of(new Backend("198.18.0.5", 8080, Backend.State.ACTIVE)))), 0));
    }

    @Test
    void aScrapeDoesNotWaitForABatchInProgress(Vertx vertx, VertxTestContext ctx) throws Exception {
        LocalCodecs.register(vertx.eventBus());
        NatMaps maps = new NatMaps(services, new InMemoryMap<>("enilb_slot4_v2", 256),
                new InMemoryMap<>("enilb_be4_v2", 256), new InMemoryMap<>("enilb_rnat4_v2", 64),
                new InMemoryMap<>("enilb_vip4_v2", 64), svcId -> { });
        HealthVerticle health = new HealthVerticle("127.0.0.1", 0, registry, null, "auto");
        vertx.deployVerticle(health)
                .compose(id -> vertx.deployVerticle(new NatMapVerticle(maps, 100, 1, 1000, registry,
                        Duration.ofMillis(300))))
                .await(10, TimeUnit.SECONDS);
        services.close();
        vertx.eventBus().publish(Addresses.SERVICES_CHANGED, web());
        assertThat(services.held.await(10, TimeUnit.SECONDS)).as("the batch reached the map write").isTrue();

        HttpClient http = vertx.createHttpClient();
        Checkpoint answered = ctx.checkpoint(2);
        long sent = System.nanoTime();
        for (String path : List.of("/metrics", "/v1/services")) {
            http.request(HttpMethod.GET, health.actualPort(), "127.0.0.1", path)
                    .compose(request -> request.send())
                    .compose(HttpClientResponse::body)
                    .onComplete(ctx.succeeding((Buffer body) -> ctx.verify(() -> {
                        // the batch is still held: whatever answered did not wait for it
                        assertThat(services.held.getCount()).isZero();
                        assertThat(services.get(new SvcKey(io.enilb.bpf.Ipv4.parse("198.19.0.10"), 80, 6))).isEmpty();
                        if (path.equals("/metrics")) {
                            assertThat(body.toString()).contains("enilb_natmap_queue_depth 0",
                                    "enilb_sync_latency_seconds_count 0");
                        }
                        answered.flag();
                    })));
        }
        assertThat(ctx.awaitCompletion(10, TimeUnit.SECONDS)).isTrue();
        assertThat(System.nanoTime() - sent).as("answered while the batch was held")
                .isLessThan(Duration.ofSeconds(10).toNanos());

        // the write stays stuck beyond nat-map's limit: liveness (and so /healthz) names it
        await().atMost(Duration.ofSeconds(30)).ignoreExceptions().until(() -> http.request(HttpMethod.GET,
                        health.actualPort(), "127.0.0.1", "/healthz").compose(r -> r.send())
                        .compose(r -> r.body().map(b -> r.statusCode() + " " + b)).await(10, TimeUnit.SECONDS),
                answer -> answer.startsWith("503") && answer.contains("nat-map")
                        && answer.contains("writing a batch of 1 Services"));
        services.open();
        await().atMost(Duration.ofSeconds(30)).ignoreExceptions().until(() -> http.request(HttpMethod.GET,
                health.actualPort(), "127.0.0.1", "/healthz").compose(r -> r.send())
                .map(HttpClientResponse::statusCode).await(10, TimeUnit.SECONDS) == 200);
    }
}
