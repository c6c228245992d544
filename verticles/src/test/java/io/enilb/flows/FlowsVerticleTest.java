package io.enilb.flows;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

import io.enilb.bpf.Ipv4;
import io.enilb.bpf.Maps.DropReason;
import io.enilb.bpf.Structs.FlowConfig;
import io.enilb.bpf.Structs.AnyFlowEvent;
import io.enilb.bpf.Structs.FlowEvent;
import io.enilb.bpf.Structs.FlowLimiter;
import io.enilb.bus.Addresses;
import io.enilb.bus.LocalCodecs;
import io.enilb.bus.PodAttachment;
import io.enilb.model.NormalizedService;
import io.enilb.model.Protocol;
import io.enilb.model.ServiceChange;
import io.enilb.model.ServiceKey;
import io.enilb.model.ServicePort;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import org.awaitility.Awaitility;
import io.enilb.bus.Flow;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import io.vertx.junit5.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * flows without a kernel: a feed a test fills, the verticle naming events from the bus, its
 * bounded ring, and GET /v1/flows (filters, errors, follow) on a real HTTP server. The HTTP
 * checks run on the test thread with a blocking client; bus assertions through
 * {@link VertxTestContext#verify}.
 */
@ExtendWith(VertxExtension.class)
@Timeout(value = 30, timeUnit = TimeUnit.SECONDS)
class FlowsVerticleTest {
    private static final Duration WITHIN = Duration.ofSeconds(10);
    private static final String POD = "5ddb4f0c1a2b3c4d";

    private final BlockingQueue<AnyFlowEvent> kernel = new LinkedBlockingQueue<>();
    private final FakeFeed feed = new FakeFeed();
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(WITHIN).build();
    private Vertx vertx;
    private HttpServer server;

    final class FakeFeed implements FlowFeed {
        volatile FlowConfig configured;

        @Override
        public void configure(FlowConfig rate) {
            configured = rate;
        }

        @Override
        public Reader open(Consumer<AnyFlowEvent> sink) {
            return new Reader() {
                @Override
                public int poll(int timeoutMs) {
                    try {
                        AnyFlowEvent e = kernel.poll(timeoutMs, TimeUnit.MILLISECONDS);
                        if (e == null) {
                            return 0;
                        }
                        sink.accept(e);
                        return 1;
                    } catch (InterruptedException ie) {
                        Thread.currentThread().interrupt();
                        return 0;
                    }
                }

                @Override
                public void close() {
                }
            };
        }

        @Override
        public FlowLimiter counts() {
            return new FlowLimiter(0, 10, 7, 1);
        }
    }

    @BeforeEach
    void start(Vertx vertx) throws Exception {
        this.vertx = vertx;
        LocalCodecs.register(vertx.eventBus());
        vertx.deployVerticle(new FlowsVerticle(feed, new FlowsVerticle.Settings(100, 10, 3, 16), registry))
                .await(10, TimeUnit.SECONDS);
        Router router = Router.router(vertx);
        FlowsHttp.routes().accept(router);
        server = vertx.createHttpServer().requestHandler(router).listen(0, "127.0.0.1").await(10, TimeUnit.SECONDS);
        vertx.eventBus().publish(Addresses.SERVICES_CHANGED, new ServiceChange(new ServiceKey("default", "web"),
                new NormalizedService(new ServiceKey("default", "web"), "198.19.0.10",
                        List.of(new ServicePort("http", Protocol.TCP, 80, List.of())), 0)));
        vertx.eventBus().publish(Addresses.POD_ATTACHED, new PodAttachment(POD, "eth0", "/run/netns/x",
                List.of("198.18.0.10")));
    }

    private static FlowEvent newFlow(int sport) {
        return new FlowEvent(System.nanoTime(), 77, Ipv4.parse("198.18.0.10"), Ipv4.parse("198.19.0.10"), sport, 80,
                Ipv4.parse("198.18.0.21"), 8080, 6, FlowEvent.NEW, 1, 5, FlowEvent.VIA_AFFINITY, 0);
    }

    private static FlowEvent refused(int type, DropReason reason, String client) {
        return new FlowEvent(System.nanoTime(), 77, Ipv4.parse(client), Ipv4.parse("198.19.0.10"), 40000, 80, 0, 0,
                6, type, 1, 0, 0, reason.ordinal());
    }

    private HttpResponse<String> get(String query) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.actualPort() + "/v1/flows"
                + query)).timeout(WITHIN).build(), HttpResponse.BodyHandlers.ofString());
    }

    private JsonArray flows(String query) throws Exception {
        HttpResponse<String> r = get(query);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return new JsonObject(r.body()).getJsonArray("flows");
    }

    @Test
    void eventsGetServiceAndPodNamesAndTheConfiguredRateReachesTheDatapath() throws Exception {
        assertThat(feed.configured).isEqualTo(new FlowConfig(100, 10));
        kernel.add(newFlow(40000));
        Awaitility.await().atMost(WITHIN).until(() -> flows("").size() == 1);
        JsonObject e = flows("").getJsonObject(0);
        assertThat(e.getString("verdict")).isEqualTo("new");
        assertThat(e.getString("pod")).isEqualTo(POD);
        assertThat(e.getString("client")).isEqualTo("198.18.0.10:40000");
        assertThat(e.getString("service")).isEqualTo("default/web");
        assertThat(e.getString("frontend")).isEqualTo("198.19.0.10:80/tcp");
        assertThat(e.getString("backend")).isEqualTo("198.18.0.21:8080");
        assertThat(e.getString("via")).isEqualTo("affinity");
        assertThat(e.getString("netnsCookie")).isEqualTo("77");
        JsonObject lost = new JsonObject(get("").body()).getJsonObject("lost");
        assertThat(lost.getLong("rate")).isEqualTo(7);
        assertThat(lost.getLong("ringFull")).isEqualTo(1);
        assertThat(registry.get("enilb.flow.events").functionCounter().count()).isEqualTo(1);
    }

    @Test
    void eachEventIsPublishedWithItsNames(VertxTestContext ctx) {
        vertx.eventBus().<Flow>localConsumer(Addresses.FLOWS, m -> ctx.verify(() -> {
            Flow f = m.body();
            assertThat(f.verdict()).isEqualTo(Flow.Verdict.DROP);
            assertThat(f.reason()).isEqualTo("CT_FULL");
            assertThat(f.pod()).isEqualTo(POD);
            assertThat(f.service()).isEqualTo("default/web");
            assertThat(f.backend()).isEmpty();
            ctx.completeNow();
        })).completion().onComplete(ctx.succeeding(v -> kernel.add(refused(FlowEvent.DROP, DropReason.CT_FULL,
                "198.18.0.10"))));
    }

    @Test
    void theRingKeepsOnlyTheMostRecentAndFiltersSelect() throws Exception {
        kernel.add(newFlow(40001));
        kernel.add(refused(FlowEvent.REJECT, DropReason.NO_BACKEND, "198.18.0.10"));
        kernel.add(refused(FlowEvent.DROP, DropReason.SPOOFED, "198.18.0.99"));
        kernel.add(newFlow(40002));
        Awaitility.await().atMost(WITHIN).until(() -> flows("").size() == 3 && flows("").getJsonObject(2)
                .getString("client").endsWith(":40002"));
        assertThat(flows("").getJsonObject(0).getString("verdict")).as("the oldest went").isEqualTo("reject");
        assertThat(flows("?verdict=drop").getJsonObject(0).getString("reason")).isEqualTo("SPOOFED");
        assertThat(flows("?verdict=drop").getJsonObject(0).getString("pod")).as("no pod owns it").isEmpty();
        assertThat(flows("?verdict=new,reject")).hasSize(2);
        assertThat(flows("?pod=5ddb")).hasSize(2);
        assertThat(flows("?pod=198.18.0.99")).hasSize(1);
        assertThat(flows("?service=default/other")).isEmpty();
        assertThat(flows("?since=2999-01-01T00:00:00Z")).isEmpty();
        assertThat(flows("?since=5m")).hasSize(3);
    }

    @Test
    void badFiltersGet400AndAReason() throws Exception {
        assertThat(get("?verdict=maybe").statusCode()).isEqualTo(400);
        assertThat(get("?verdict=maybe").body()).contains("verdict must be new, reject or drop");
        assertThat(get("?service=web").body()).contains("service: not namespace/name");
        assertThat(get("?since=yesterday").body()).contains("since:");
        assertThat(get("?follow=yes").body()).contains("follow: true or false");
    }

    @Test
    void followStreamsTheRecentThenTheNewAsJsonLines() throws Exception {
        kernel.add(newFlow(40003));
        Awaitility.await().atMost(WITHIN).until(() -> flows("").size() == 1);
        HttpResponse<java.io.InputStream> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
                + server.actualPort() + "/v1/flows?follow=true&verdict=new")).build(),
                HttpResponse.BodyHandlers.ofInputStream());
        assertThat(r.headers().firstValue("content-type")).hasValue("application/x-ndjson");
        try (BufferedReader lines = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
            assertThat(new JsonObject(lines.readLine()).getString("client")).endsWith(":40003");
            kernel.add(refused(FlowEvent.REJECT, DropReason.NO_BACKEND, "198.18.0.10"));
            kernel.add(newFlow(40004));
            assertThat(new JsonObject(lines.readLine()).getString("client")).as("the reject is filtered out")
                    .endsWith(":40004");
        }
    }
}
