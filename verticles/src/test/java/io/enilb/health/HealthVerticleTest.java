package io.enilb.health;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.enilb.bpf.Ipv4;
import io.enilb.bpf.Structs.SvcKey;
import io.enilb.bus.Addresses;
import io.enilb.bus.BatchWritten;
import io.enilb.bus.FrontendState;
import io.enilb.bus.FrontendTable;
import io.enilb.bus.Liveness;
import io.enilb.bus.LocalCodecs;
import io.enilb.bus.PodAttachment;
import io.enilb.bus.Readiness;
import io.enilb.bus.SourceState;
import io.enilb.model.Backend;
import io.enilb.model.NormalizedService;
import io.enilb.model.Protocol;
import io.enilb.model.ServiceKey;
import io.enilb.model.ServicePort;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** health as the daemon deploys it: it hears the others only on the bus and answers from their snapshots. */
@ExtendWith(VertxExtension.class)
class HealthVerticleTest {
    private static final Duration WITHIN = Duration.ofSeconds(10);
    private static final ServiceKey WEB = new ServiceKey("default", "web");

    private PrometheusMeterRegistry registry;
    private Vertx vertx;
    private HttpClient http;
    private final Fakes.Datapath datapath = new Fakes.Datapath();
    private HealthVerticle health;

    /** An HTTP answer. */
    record Answer(int status, String contentType, String body) {
        JsonObject json() {
            return new JsonObject(body);
        }
    }

    @BeforeEach
    void setUp() {
        registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        // as the daemon builds it: Vert.x's own meters go to the same registry
        vertx = Vertx.builder().with(HealthMetrics.vertxOptions()).withMetrics(HealthMetrics.vertxMetrics(registry))
                .build();
        LocalCodecs.register(vertx.eventBus());
        http = vertx.createHttpClient();
    }

    @AfterEach
    void tearDown() throws Exception {
        vertx.close().await(10, TimeUnit.SECONDS);
        registry.close();
    }

    private void deploy(VertxTestContext ctx, boolean withDatapath) throws InterruptedException {
        health = new HealthVerticle("127.0.0.1", 0, registry, withDatapath ? () -> datapath : null, "auto");
        vertx.deployVerticle(health).onComplete(ctx.succeedingThenComplete());
        assertThat(ctx.awaitCompletion(10, TimeUnit.SECONDS)).isTrue();
        if (ctx.failed()) {
            throw new AssertionError(ctx.causeOfFailure());
        }
    }

    private Future<Answer> get(String path) {
        return get(health.actualPort(), path);
    }

    private Future<Answer> get(int port, String path) {
        return http.request(HttpMethod.GET, port, "127.0.0.1", path)
                .compose(request -> request.send())
                .compose(response -> response.body().map(body -> new Answer(response.statusCode(),
                        response.getHeader("content-type"), body.toString())));
    }

    /**
     * The answer to {@code path} from the test thread; for polling until a published snapshot
     * arrives. A blocking JDK client, so that a poll never waits on the Vert.x instance under test
     * (its event loops are busy with what the test exercises; on a loaded machine the Future
     * form timed out now and then).
     */
    private Answer getNow(String path) throws Exception {
        return getNow(health.actualPort(), path);
    }

    private static Answer getNow(int port, String path) throws Exception {
        java.net.http.HttpResponse<String> r = BLOCKING.send(java.net.http.HttpRequest.newBuilder(
                java.net.URI.create("http://127.0.0.1:" + port + path)).timeout(java.time.Duration.ofSeconds(10))
                .build(), java.net.http.HttpResponse.BodyHandlers.ofString());
        return new Answer(r.statusCode(), r.headers().firstValue("content-type").orElse(null), r.body());
    }

    private static final java.net.http.HttpClient BLOCKING = java.net.http.HttpClient.newBuilder()
            .version(java.net.http.HttpClient.Version.HTTP_1_1)
            .connectTimeout(java.time.Duration.ofSeconds(10)).build();

    private void publish(String address, Object payload) {
        vertx.eventBus().publish(address, payload);
    }

    private static NormalizedService web() {
        return new NormalizedService(WEB, "198.19.0.10", List.of(
                new ServicePort("http", Protocol.TCP, 80, List.of(
                        new Backend("198.18.0.5", 8080, Backend.State.ACTIVE),
                        new Backend("198.18.0.6", 8080, Backend.State.TERMINATING))),
                new ServicePort("dns", Protocol.UDP, 53, List.of())), 0);
    }

    private static SourceState synced(NormalizedService... services) {
        SortedMap<ServiceKey, NormalizedService> map = new TreeMap<>();
        for (NormalizedService s : services) {
            map.put(s.key(), s);
        }
        return new SourceState("file", true, new TreeMap<>(Map.of("bad.yaml", "not YAML")), 2, map);
    }

    private static BatchWritten batch(Map<String, FrontendState> states) {
        Map<Object, FrontendState> changes = new HashMap<>();
        states.forEach((frontend, state) -> {
            String[] ipPort = frontend.split("[:/]");
            changes.put(new SvcKey(Ipv4.parse(ipPort[0]), Integer.parseInt(ipPort[1]),
                    Protocol.valueOf(ipPort[2]).number), state);
        });
        return new BatchWritten(12, 1, 4_000_000, FrontendTable.EMPTY.with(changes));
    }

    @Test
    void healthzAnswersOkWhileHeartbeatsSayAlive(VertxTestContext ctx) throws Exception {
        deploy(new VertxTestContext(), false);
        publish(Addresses.LIVENESS, Liveness.alive("nat-map"));
        get("/healthz").onComplete(ctx.succeeding(answer -> ctx.verify(() -> {
            assertThat(answer.status()).isEqualTo(200);
            assertThat(answer.body().trim()).isEqualTo("ok");
            ctx.completeNow();
        })));
    }

    @Test
    void healthzFailsNamingTheComponentThatIsStuck() throws Exception {
        deploy(new VertxTestContext(), false);
        publish(Addresses.LIVENESS, new Liveness("attach", "ADD pod 5ddb4f/eth0 running for 31000 ms"));
        await().atMost(WITHIN).untilAsserted(() -> {
            Answer answer = getNow("/healthz");
            assertThat(answer.status()).isEqualTo(503);
            assertThat(answer.json()).isEqualTo(new JsonObject().put("alive", false).put("reasons",
                    new JsonObject().put("attach", "ADD pod 5ddb4f/eth0 running for 31000 ms")));
        });
        publish(Addresses.LIVENESS, Liveness.alive("attach"));
        await().atMost(WITHIN).until(() -> getNow("/healthz").status() == 200);
    }

    @Test
    void readinessGoesFrom503WithReasonsTo200() throws Exception {
        deploy(new VertxTestContext(), false);
        Answer first = getNow("/readyz");
        assertThat(first.status()).isEqualTo(503);
        assertThat(first.json()).isEqualTo(new JsonObject().put("ready", false).put("reasons",
                new JsonObject().put("cni-socket", "not reported yet").put("datapath", "not reported yet")
                        .put("nat-map", "not reported yet").put("source", "not reported yet")));

        publish(Addresses.READINESS, Readiness.ok("source"));
        publish(Addresses.READINESS, Readiness.notReady("datapath", "cannot load enilb.bpf.o: EPERM"));
        publish(Addresses.READINESS, Readiness.ok("cni-socket"));
        await().atMost(WITHIN).untilAsserted(() -> {
            Answer r = getNow("/readyz");
            assertThat(r.status()).isEqualTo(503);
            assertThat(r.json().getJsonObject("reasons")).isEqualTo(new JsonObject()
                    .put("datapath", "cannot load enilb.bpf.o: EPERM").put("nat-map", "not reported yet"));
        });

        publish(Addresses.READINESS, Readiness.ok("datapath"));
        publish(Addresses.READINESS, Readiness.ok("nat-map"));
        await().atMost(WITHIN).untilAsserted(() -> {
            Answer r = getNow("/readyz");
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.json()).isEqualTo(new JsonObject().put("ready", true).put("reasons", new JsonObject()));
        });

        // any component that reports trouble takes readiness away, required or not
        publish(Addresses.READINESS, Readiness.notReady("nat-map", "queue full (200000 changes)"));
        publish(Addresses.READINESS, Readiness.notReady("extra", ""));
        await().atMost(WITHIN).untilAsserted(() -> {
            Answer r = getNow("/readyz");
            assertThat(r.status()).isEqualTo(503);
            assertThat(r.json().getJsonObject("reasons")).isEqualTo(new JsonObject()
                    .put("extra", "not ready").put("nat-map", "queue full (200000 changes)"));
        });
    }

    @Test
    void metricsCarryHealthsSeriesAndAreReadOffTheEventLoop() throws Exception {
        datapath.counters.put(3, new DatapathView.ServiceCounters(10, 1500, 2));
        deploy(new VertxTestContext(), true);
        publish(Addresses.SOURCE_STATE, synced(web()));
        publish(Addresses.NATMAP_BATCH_WRITTEN, batch(Map.of("198.19.0.10:80/TCP", FrontendState.programmed(3),
                "198.19.0.10:53/UDP", FrontendState.failed(4, "map full"))));
        publish(Addresses.READINESS, Readiness.ok("source"));

        await().atMost(WITHIN).untilAsserted(() -> {
            Answer answer = getNow("/metrics");
            assertThat(answer.status()).isEqualTo(200);
            assertThat(answer.contentType()).startsWith("text/plain");
            assertThat(answer.body()).contains(
                    "enilb_map_entries{map=\"enilb_ct4_v1\"} 120",
                    "enilb_map_capacity{map=\"enilb_svc4_v1\"} 65536",
                    "enilb_map_capacity{map=\"enilb_stat4_v1\"} 65536",
                    "enilb_service_packets_total{frontend=\"198.19.0.10:80/TCP\",service=\"default/web\"} 10",
                    "enilb_service_bytes_total{frontend=\"198.19.0.10:80/TCP\",service=\"default/web\"} 1500",
                    "enilb_service_new_flows_total{frontend=\"198.19.0.10:80/TCP\",service=\"default/web\"} 2",
                    // a frontend that failed but holds a service id still has (zero) counters
                    "enilb_service_packets_total{frontend=\"198.19.0.10:53/UDP\",service=\"default/web\"} 0",
                    "enilb_datapath_drops_total{reason=\"no_backend\"} 7",
                    "enilb_ready{component=\"source\"} 1",
                    "enilb_datapath_loaded 1",
                    "vertx_");
            // the event bus's meters are off: looked up per message, they cost a sync dearly
            assertThat(answer.body()).doesNotContain("vertx_eventbus_");
        });
        assertThat(datapath.reads).isPositive();
        assertThat(datapath.readOnEventLoop).isFalse();

        // a Service that goes away takes its series with it
        publish(Addresses.SOURCE_STATE, synced());
        await().atMost(WITHIN).until(() -> !getNow("/metrics").body().contains("enilb_service_packets_total{"));
    }

    @Test
    void perServiceSeriesCanBeLimitedToTheBusiest() {
        HealthMetrics.PerService top1 = HealthMetrics.PerService.parse("top 1");
        assertThat(top1.limit(5)).isEqualTo(1);
        assertThat(HealthMetrics.PerService.parse("none").limit(5)).isZero();
        assertThat(HealthMetrics.PerService.parse("all").limit(50_000)).isEqualTo(50_000);
        assertThat(HealthMetrics.PerService.AUTO.limit(HealthMetrics.AUTO_ALL_UP_TO))
                .isEqualTo(HealthMetrics.AUTO_ALL_UP_TO);
        assertThat(HealthMetrics.PerService.AUTO.limit(50_000)).isEqualTo(HealthMetrics.AUTO_TOP);

        HealthMetrics metrics = new HealthMetrics(registry, top1);
        datapath.counters.put(3, new DatapathView.ServiceCounters(10, 1500, 2));
        datapath.counters.put(4, new DatapathView.ServiceCounters(99, 99_000, 9));
        metrics.refresh(Map.of(), synced(web()), batch(Map.of("198.19.0.10:80/TCP", FrontendState.programmed(3),
                "198.19.0.10:53/UDP", FrontendState.programmed(4))).frontends(), datapath);
        assertThat(registry.scrape())
                .contains("enilb_service_bytes_total{frontend=\"198.19.0.10:53/UDP\",service=\"default/web\"} 99000")
                .doesNotContain("frontend=\"198.19.0.10:80/TCP\"");
        metrics.close();
    }

    @Test
    void amongEqualCountsTheFirstFrontendsKeepTheirSeries() {
        HealthMetrics metrics = new HealthMetrics(registry, HealthMetrics.PerService.parse("top 1"));
        // both idle; the catalog's order puts 80/TCP first: it keeps the one series, scrape after scrape
        for (int scrape = 0; scrape < 3; scrape++) {
            metrics.refresh(Map.of(), synced(web()), batch(Map.of("198.19.0.10:53/UDP", FrontendState.programmed(4),
                    "198.19.0.10:80/TCP", FrontendState.programmed(3))).frontends(), datapath);
            assertThat(registry.scrape()).contains("enilb_service_bytes_total{frontend=\"198.19.0.10:80/TCP\"")
                    .doesNotContain("frontend=\"198.19.0.10:53/UDP\"");
        }
        datapath.counters.put(4, new DatapathView.ServiceCounters(1, 1, 1));
        metrics.refresh(Map.of(), synced(web()), batch(Map.of("198.19.0.10:53/UDP", FrontendState.programmed(4),
                "198.19.0.10:80/TCP", FrontendState.programmed(3))).frontends(), datapath);
        assertThat(registry.scrape()).contains("enilb_service_bytes_total{frontend=\"198.19.0.10:53/UDP\"")
                .doesNotContain("frontend=\"198.19.0.10:80/TCP\"");
        metrics.close();
    }

    @Test
    void everyEndpointAnswersWithoutState() throws Exception {
        deploy(new VertxTestContext(), false);
        Answer metrics = getNow("/metrics");
        assertThat(metrics.status()).isEqualTo(200);
        assertThat(metrics.body()).contains("enilb_datapath_loaded 0").doesNotContain("enilb_service_packets_total{");
        assertThat(getNow("/v1/services").json()).isEqualTo(new JsonObject().put("source", null)
                .put("synced", false).put("sourceErrors", new JsonObject()).put("services", new JsonArray()));
        assertThat(getNow("/v1/endpoints").json()).isEqualTo(new JsonObject().put("pods", new JsonArray()));
        assertThat(getNow("/v1/programs").json()).isEqualTo(
                new JsonObject().put("loaded", false).put("programs", new JsonArray()));
        assertThat(getNow("/v1/counters").json()).isEqualTo(new JsonObject().put("services", new JsonArray())
                .put("drops", new JsonObject()).put("cni", new JsonArray()));
    }

    @Test
    void servicesShowFrontendsBackendsAndProgramState() throws Exception {
        deploy(new VertxTestContext(), true);
        publish(Addresses.SOURCE_STATE, synced(web()));
        publish(Addresses.NATMAP_BATCH_WRITTEN, batch(Map.of("198.19.0.10:80/TCP", FrontendState.programmed(3),
                "198.19.0.10:53/UDP", FrontendState.failed(0, "service map full"))));

        await().atMost(WITHIN).untilAsserted(() -> {
            Answer response = getNow("/v1/services");
            assertThat(response.status()).isEqualTo(200);
            assertThat(response.contentType()).isEqualTo("application/json");
            JsonObject body = response.json();
            assertThat(body.getString("source")).isEqualTo("file");
            assertThat(body.getBoolean("synced")).isTrue();
            JsonObject service = body.getJsonArray("services").getJsonObject(0);
            assertThat(service.getString("service")).isEqualTo("default/web");
            assertThat(service.getString("clusterIp")).isEqualTo("198.19.0.10");
            assertThat(service.getJsonArray("clusterIps")).isEqualTo(new JsonArray().add("198.19.0.10"));
            JsonArray frontends = service.getJsonArray("frontends");
            assertThat(frontends.getJsonObject(0)).isEqualTo(new JsonObject()
                    .put("frontend", "198.19.0.10:80/TCP").put("family", "IPv4").put("name", "http").put("port", 80)
                    .put("protocol", "TCP")
                    .put("state", "programmed").put("svcId", 3).put("error", null)
                    .put("backends", new JsonArray()
                            .add(new JsonObject().put("ip", "198.18.0.5").put("port", 8080).put("state", "active"))
                            .add(new JsonObject().put("ip", "198.18.0.6").put("port", 8080).put("state", "terminating"))));
            assertThat(frontends.getJsonObject(1).getString("state")).isEqualTo("failed");
            assertThat(frontends.getJsonObject(1).getString("error")).isEqualTo("service map full");
            assertThat(frontends.getJsonObject(1).getValue("svcId")).isNull();
        });
    }

    @Test
    void endpointsAndProgramsFollowAttachedAndDetachedPods() throws Exception {
        deploy(new VertxTestContext(), true);
        PodAttachment b = new PodAttachment("bbb", "eth1", "/run/netns/b", List.of("198.18.0.7"));
        publish(Addresses.POD_ATTACHED, b);
        publish(Addresses.POD_ATTACHED, new PodAttachment("aaa", "eth0", "/run/netns/a", List.of("198.18.0.5")));

        await().atMost(WITHIN).until(() -> getNow("/v1/endpoints").json().getJsonArray("pods").size() == 2);
        JsonArray attached = getNow("/v1/endpoints").json().getJsonArray("pods");
        assertThat(attached.getJsonObject(0)).isEqualTo(new JsonObject().put("containerId", "aaa")
                .put("ifName", "eth0").put("netns", "/run/netns/a").put("ips", new JsonArray().add("198.18.0.5")));

        JsonObject programs = getNow("/v1/programs").json();
        assertThat(programs.getBoolean("loaded")).isTrue();
        assertThat(programs.getString("tcAttach")).isEqualTo("auto");
        JsonArray list = programs.getJsonArray("programs");
        assertThat(list.stream().map(p -> ((JsonObject) p).getString("name")))
                .containsExactly("enilb_egress", "enilb_ingress", "enilb_lo_egress");
        JsonObject egress = list.getJsonObject(0);
        assertThat(egress.getInteger("id")).isEqualTo(41);
        assertThat(egress.getJsonArray("attachedTo").getJsonObject(1)).isEqualTo(new JsonObject()
                .put("containerId", "bbb").put("netns", "/run/netns/b").put("device", "eth1")
                .put("direction", "egress"));
        assertThat(list.getJsonObject(2).getJsonArray("attachedTo").getJsonObject(0).getString("device"))
                .isEqualTo("lo");
        assertThat(datapath.readOnEventLoop).isFalse();

        publish(Addresses.POD_DETACHED, b);
        await().atMost(WITHIN).until(() -> getNow("/v1/endpoints").json().getJsonArray("pods").size() == 1);
    }

    @Test
    void countersAreJsonForEnilbctl() throws Exception {
        datapath.counters.put(3, new DatapathView.ServiceCounters(10, 1500, 2));
        deploy(new VertxTestContext(), true);
        io.micrometer.core.instrument.Counter.builder("enilb.cni.requests").tags("command", "ADD", "outcome", "ok")
                .register(registry).increment(2);
        publish(Addresses.SOURCE_STATE, synced(web()));
        publish(Addresses.NATMAP_BATCH_WRITTEN, batch(Map.of("198.19.0.10:80/TCP", FrontendState.programmed(3))));

        await().atMost(WITHIN).untilAsserted(() -> assertThat(getNow("/v1/counters").json()).isEqualTo(new JsonObject()
                .put("services", new JsonArray().add(new JsonObject().put("service", "default/web")
                        .put("frontend", "198.19.0.10:80/TCP").put("packets", 10).put("bytes", 1500)
                        .put("newFlows", 2)))
                .put("drops", new JsonObject().put("ct_full", 0).put("no_backend", 7))
                .put("cni", new JsonArray().add(new JsonObject().put("command", "ADD").put("outcome", "ok")
                        .put("requests", 2)))));
    }

    @Test
    void unknownPathIs404(VertxTestContext ctx) throws Exception {
        deploy(new VertxTestContext(), false);
        var checkpoint = ctx.checkpoint(2);
        for (String path : List.of("/nope", "/v1/nope")) {
            get(path).onComplete(ctx.succeeding(answer -> ctx.verify(() -> {
                assertThat(answer.status()).isEqualTo(404);
                checkpoint.flag();
            })));
        }
    }

    @Test
    void stopIsSafeTwiceAndRemovesHealthsMeters() throws Exception {
        deploy(new VertxTestContext(), true);
        assertThat(getNow("/metrics").status()).isEqualTo(200);
        String id = vertx.deploymentIDs().iterator().next();
        vertx.undeploy(id).await(10, TimeUnit.SECONDS);
        health.stop().await(10, TimeUnit.SECONDS);
        assertThat(registry.scrape()).doesNotContain("enilb_");
        // a new health on the same registry starts clean
        deploy(new VertxTestContext(), true);
        assertThat(getNow("/metrics").body()).contains("enilb_datapath_loaded 1");
    }

    @Test
    void theProbeListenerServesProbesAndMetricsButNeverV1() throws Exception {
        health = new HealthVerticle("127.0.0.1", 0, registry, () -> datapath, "auto").withProbeListener("127.0.0.1", 0);
        vertx.deployVerticle(health).await(10, TimeUnit.SECONDS);
        assertThat(health.probePort()).isPositive().isNotEqualTo(health.actualPort());

        assertThat(onProbePort("/healthz").status()).isEqualTo(200);
        assertThat(onProbePort("/readyz").status()).isEqualTo(503);
        Answer metrics = onProbePort("/metrics");
        assertThat(metrics.status()).isEqualTo(200);
        assertThat(metrics.body()).contains("enilb_");
        for (String path : List.of("/v1/services", "/v1/endpoints", "/v1/programs", "/v1/counters")) {
            assertThat(onProbePort(path).status()).as(path).isEqualTo(404);
            assertThat(getNow(path).status()).as(path + " on health.listen").isEqualTo(200);
        }
        // the kubelet's liveness probe sees what /healthz on health.listen sees
        publish(Addresses.LIVENESS, new Liveness("nat-map", "writing a batch running for 31000 ms"));
        await().atMost(WITHIN).until(() -> onProbePort("/healthz").status() == 503);
        assertThat(onProbePort("/healthz").body()).contains("nat-map");
    }

    @Test
    void withoutAProbeListenerThereIsOnlyOneServer() throws Exception {
        deploy(new VertxTestContext(), true);
        assertThat(health.probePort()).isEqualTo(-1);
    }

    private Answer onProbePort(String path) throws Exception {
        return getNow(health.probePort(), path);
    }
}
