package io.enilb.health;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.enilb.attach.AttachStats;
import io.enilb.bus.Addresses;
import io.enilb.bus.LocalCodecs;
import io.enilb.bus.PodAttachment;
import io.enilb.bus.Readiness;
import io.enilb.model.Backend;
import io.enilb.model.NormalizedService;
import io.enilb.model.Protocol;
import io.enilb.model.ServiceKey;
import io.enilb.model.ServicePort;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class HealthVerticleTest {
    private static final Duration WITHIN = Duration.ofSeconds(10);
    private static final ServiceKey WEB = new ServiceKey("default", "web");

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(WITHIN).build();
    private PrometheusMeterRegistry registry;
    private Vertx vertx;
    private final Fakes.View view = new Fakes.View();
    private final Fakes.NatMap natMap = new Fakes.NatMap();
    private final Fakes.Datapath datapath = new Fakes.Datapath();
    private final AttachStats attachStats = new AttachStats();
    private final List<PodAttachment> pods = new CopyOnWriteArrayList<>();
    private HealthVerticle health;

    @BeforeEach
    void setUp() {
        registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        // as the daemon builds it: Vert.x's own meters go to the same registry
        vertx = Vertx.builder().with(HealthMetrics.vertxOptions()).withMetrics(HealthMetrics.vertxMetrics(registry))
                .build();
        LocalCodecs.register(vertx.eventBus());
    }

    @AfterEach
    void tearDown() throws Exception {
        join(vertx.close());
        registry.close();
    }

    private static <T> T join(Future<T> future) throws Exception {
        return future.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    private HealthSources allSources() {
        return HealthSources.NONE.withServices(view).withNatMap(natMap).withDatapath(() -> datapath)
                .withAttach(attachStats, () -> List.copyOf(pods));
    }

    private void deploy(HealthSources sources) throws Exception {
        health = new HealthVerticle("127.0.0.1", 0, registry, sources);
        join(vertx.deployVerticle(health));
    }

    private HttpResponse<String> get(String path) throws Exception {
        HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + health.actualPort() + path))
                .timeout(WITHIN).GET().build();
        return http.send(request, HttpResponse.BodyHandlers.ofString());
    }

    private void report(Readiness readiness) {
        vertx.eventBus().publish(Addresses.READINESS, readiness);
    }

    private static NormalizedService web() {
        return new NormalizedService(WEB, "198.19.0.10", List.of(
                new ServicePort("http", Protocol.TCP, 80, List.of(
                        new Backend("198.18.0.5", 8080, Backend.State.ACTIVE),
                        new Backend("198.18.0.6", 8080, Backend.State.TERMINATING))),
                new ServicePort("dns", Protocol.UDP, 53, List.of())), 0);
    }

    @Test
    void healthzAnswersOk() throws Exception {
        deploy(HealthSources.NONE);
        HttpResponse<String> response = get("/healthz");
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.body().trim()).isEqualTo("ok");
    }

    @Test
    void readinessGoesFrom503WithReasonsTo200() throws Exception {
        deploy(HealthSources.NONE);
        HttpResponse<String> first = get("/readyz");
        assertThat(first.statusCode()).isEqualTo(503);
        assertThat(new JsonObject(first.body())).isEqualTo(new JsonObject().put("ready", false).put("reasons",
                new JsonObject().put("cni-socket", "not reported yet").put("datapath", "not reported yet")
                        .put("nat-map", "not reported yet").put("source", "not reported yet")));

        report(Readiness.ok("source"));
        report(Readiness.notReady("datapath", "cannot load enilb.bpf.o: EPERM"));
        report(Readiness.ok("cni-socket"));
        await().atMost(WITHIN).untilAsserted(() -> {
            HttpResponse<String> r = get("/readyz");
            assertThat(r.statusCode()).isEqualTo(503);
            assertThat(new JsonObject(r.body()).getJsonObject("reasons")).isEqualTo(new JsonObject()
                    .put("datapath", "cannot load enilb.bpf.o: EPERM").put("nat-map", "not reported yet"));
        });

        report(Readiness.ok("datapath"));
        report(Readiness.ok("nat-map"));
        await().atMost(WITHIN).untilAsserted(() -> {
            HttpResponse<String> r = get("/readyz");
            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(new JsonObject(r.body())).isEqualTo(
                    new JsonObject().put("ready", true).put("reasons", new JsonObject()));
        });

        // any component that reports trouble takes readiness away, required or not
        report(Readiness.notReady("nat-map", "queue full (200000 changes)"));
        report(Readiness.notReady("extra", ""));
        await().atMost(WITHIN).untilAsserted(() -> {
            HttpResponse<String> r = get("/readyz");
            assertThat(r.statusCode()).isEqualTo(503);
            assertThat(new JsonObject(r.body()).getJsonObject("reasons")).isEqualTo(new JsonObject()
                    .put("extra", "not ready").put("nat-map", "queue full (200000 changes)"));
        });
    }

    @Test
    void metricsCarryEnilbNamesAndAreReadOffTheEventLoop() throws Exception {
        view.put(web());
        view.synced = true;
        view.errors = new java.util.TreeMap<>(java.util.Map.of("bad.yaml", "not YAML"));
        view.errorCount = 2;
        natMap.frontends.put("198.19.0.10:80/TCP", NatMapStats.FrontendState.programmed(3));
        natMap.frontends.put("198.19.0.10:53/UDP", NatMapStats.FrontendState.failed(4, "map full"));
        natMap.queueDepth = 17;
        datapath.counters.put(3, new DatapathView.ServiceCounters(10, 1500, 2));
        Fakes.recordCni(attachStats, "ADD", AttachStats.Outcome.OK, 3_000_000);
        Fakes.recordCni(attachStats, "ADD", AttachStats.Outcome.OK, 40_000_000);
        Fakes.recordCni(attachStats, "DEL", AttachStats.Outcome.FAILED, 1_000_000);
        deploy(allSources());
        natMap.batch(12, 4_000_000);
        report(Readiness.ok("source"));

        HttpResponse<String> response = get("/metrics");
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("content-type")).hasValueSatisfying(
                type -> assertThat(type).startsWith("text/plain"));
        String text = response.body();
        assertThat(text).contains(
                "enilb_sync_latency_seconds_bucket{le=\"0.005\"} 1",
                "enilb_sync_latency_seconds_count 1",
                "enilb_natmap_batch_size_bucket{le=\"25.0\"} 1",
                "enilb_natmap_batch_size_sum 12",
                "enilb_natmap_queue_depth 17",
                "enilb_map_entries{map=\"enilb_ct4_v1\"} 120",
                "enilb_map_capacity{map=\"enilb_svc4_v1\"} 65536",
                "enilb_map_capacity{map=\"enilb_stat4_v1\"} 65536",
                "enilb_cni_requests_total{command=\"ADD\",outcome=\"ok\"} 2",
                "enilb_cni_requests_total{command=\"DEL\",outcome=\"failed\"} 1",
                "enilb_cni_request_duration_seconds_bucket{command=\"ADD\",le=\"0.005\"} 1",
                "enilb_cni_request_duration_seconds_bucket{command=\"ADD\",le=\"0.05\"} 2",
                "enilb_cni_request_duration_seconds_count{command=\"ADD\"} 2",
                "enilb_service_packets_total{frontend=\"198.19.0.10:80/TCP\",service=\"default/web\"} 10",
                "enilb_service_bytes_total{frontend=\"198.19.0.10:80/TCP\",service=\"default/web\"} 1500",
                "enilb_service_new_flows_total{frontend=\"198.19.0.10:80/TCP\",service=\"default/web\"} 2",
                "enilb_datapath_drops_total{reason=\"no_backend\"} 7",
                "enilb_source_synced{source=\"file\"} 1",
                "enilb_source_errors{source=\"file\"} 1",
                "enilb_source_problems_total{source=\"file\"} 2",
                "enilb_ready{component=\"source\"} 1",
                "enilb_datapath_loaded 1",
                "vertx_");
        // a frontend that failed but holds a service id still has (zero) counters
        assertThat(text).contains("enilb_service_packets_total{frontend=\"198.19.0.10:53/UDP\",service=\"default/web\"} 0");
        assertThat(datapath.reads).isPositive();
        assertThat(datapath.readOnEventLoop).isFalse();

        // a Service that goes away takes its series with it
        view.remove(WEB);
        assertThat(get("/metrics").body()).doesNotContain("enilb_service_packets_total{");
    }

    @Test
    void everyEndpointAnswersWithoutSources() throws Exception {
        deploy(HealthSources.NONE);
        HttpResponse<String> metrics = get("/metrics");
        assertThat(metrics.statusCode()).isEqualTo(200);
        assertThat(metrics.body()).contains("enilb_datapath_loaded 0").doesNotContain("enilb_service_packets_total{");
        assertThat(new JsonObject(get("/v1/services").body())).isEqualTo(new JsonObject().put("source", null)
                .put("synced", false).put("sourceErrors", new JsonObject()).put("services", new JsonArray()));
        assertThat(new JsonObject(get("/v1/endpoints").body())).isEqualTo(
                new JsonObject().put("pods", new JsonArray()));
        assertThat(new JsonObject(get("/v1/programs").body())).isEqualTo(
                new JsonObject().put("loaded", false).put("programs", new JsonArray()));
    }

    @Test
    void servicesShowFrontendsBackendsAndProgramState() throws Exception {
        view.put(web());
        view.synced = true;
        natMap.frontends.put("198.19.0.10:80/TCP", NatMapStats.FrontendState.programmed(3));
        natMap.frontends.put("198.19.0.10:53/UDP", NatMapStats.FrontendState.failed(0, "service map full"));
        deploy(allSources());

        HttpResponse<String> response = get("/v1/services");
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("content-type")).hasValue("application/json");
        JsonObject body = new JsonObject(response.body());
        assertThat(body.getString("source")).isEqualTo("file");
        assertThat(body.getBoolean("synced")).isTrue();
        JsonObject service = body.getJsonArray("services").getJsonObject(0);
        assertThat(service.getString("service")).isEqualTo("default/web");
        assertThat(service.getString("clusterIp")).isEqualTo("198.19.0.10");
        assertThat(service.getJsonArray("clusterIps")).isEqualTo(new JsonArray().add("198.19.0.10"));
        JsonArray frontends = service.getJsonArray("frontends");
        assertThat(frontends.getJsonObject(0)).isEqualTo(new JsonObject()
                .put("frontend", "198.19.0.10:80/TCP").put("family", "IPv4").put("name", "http").put("port", 80).put("protocol", "TCP")
                .put("state", "programmed").put("svcId", 3).put("error", null)
                .put("backends", new JsonArray()
                        .add(new JsonObject().put("ip", "198.18.0.5").put("port", 8080).put("state", "active"))
                        .add(new JsonObject().put("ip", "198.18.0.6").put("port", 8080).put("state", "terminating"))));
        assertThat(frontends.getJsonObject(1).getString("state")).isEqualTo("failed");
        assertThat(frontends.getJsonObject(1).getString("error")).isEqualTo("service map full");
        assertThat(frontends.getJsonObject(1).getValue("svcId")).isNull();
    }

    @Test
    void endpointsAndProgramsShowTheAttachedPods() throws Exception {
        pods.add(new PodAttachment("bbb", "eth1", "/run/netns/b", List.of("198.18.0.7")));
        pods.add(new PodAttachment("aaa", "eth0", "/run/netns/a", List.of("198.18.0.5")));
        deploy(allSources());

        JsonArray attached = new JsonObject(get("/v1/endpoints").body()).getJsonArray("pods");
        assertThat(attached).hasSize(2);
        assertThat(attached.getJsonObject(0)).isEqualTo(new JsonObject().put("containerId", "aaa")
                .put("ifName", "eth0").put("netns", "/run/netns/a").put("ips", new JsonArray().add("198.18.0.5")));

        JsonObject programs = new JsonObject(get("/v1/programs").body());
        assertThat(programs.getBoolean("loaded")).isTrue();
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
    }

    @Test
    void unknownPathIs404() throws Exception {
        deploy(HealthSources.NONE);
        assertThat(get("/nope").statusCode()).isEqualTo(404);
        assertThat(get("/v1/nope").statusCode()).isEqualTo(404);
    }

    @Test
    void stopIsSafeTwiceAndRemovesEnilbMeters() throws Exception {
        deploy(allSources());
        assertThat(get("/metrics").statusCode()).isEqualTo(200);
        assertThat(natMap.listeners).hasSize(1);
        String id = vertx.deploymentIDs().iterator().next();
        join(vertx.undeploy(id));
        join(health.stop());
        assertThat(natMap.listeners).isEmpty();
        assertThat(registry.scrape()).doesNotContain("enilb_");
        // a new health on the same registry starts clean
        deploy(allSources());
        assertThat(get("/metrics").body()).contains("enilb_datapath_loaded 1");
    }

    @Test
    void theProbeListenerServesProbesAndMetricsButNeverV1() throws Exception {
        health = new HealthVerticle("127.0.0.1", 0, registry, allSources()).withProbeListener("127.0.0.1", 0);
        join(vertx.deployVerticle(health));
        assertThat(health.probePort()).isPositive().isNotEqualTo(health.actualPort());

        assertThat(onProbePort("/healthz").statusCode()).isEqualTo(200);
        assertThat(onProbePort("/readyz").statusCode()).isEqualTo(503);
        HttpResponse<String> metrics = onProbePort("/metrics");
        assertThat(metrics.statusCode()).isEqualTo(200);
        assertThat(metrics.body()).contains("enilb_");
        for (String path : List.of("/v1/services", "/v1/endpoints", "/v1/programs")) {
            assertThat(onProbePort(path).statusCode()).as(path).isEqualTo(404);
            assertThat(get(path).statusCode()).as(path + " on health.listen").isEqualTo(200);
        }
    }

    @Test
    void withoutAProbeListenerThereIsOnlyOneServer() throws Exception {
        deploy(allSources());
        assertThat(health.probePort()).isEqualTo(-1);
    }

    private HttpResponse<String> onProbePort(String path) throws Exception {
        HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + health.probePort() + path))
                .timeout(WITHIN).GET().build();
        return http.send(request, HttpResponse.BodyHandlers.ofString());
    }
}
