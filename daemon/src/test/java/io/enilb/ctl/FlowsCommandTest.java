package io.enilb.ctl;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import io.enilb.bus.Addresses;
import io.enilb.bus.Flow;
import io.enilb.bus.LocalCodecs;
import io.enilb.bus.RecentFlows;
import io.enilb.flows.FlowsHttp;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** enilbctl flows against the real GET /v1/flows handler, with the recent events answered on the bus. */
class FlowsCommandTest {
    private static final String POD = "5ddb4f0c1a2b3c4d5e6f";
    private Vertx vertx;
    private HttpServer server;
    private final ByteArrayOutputStream stdout = new ByteArrayOutputStream();
    private final ByteArrayOutputStream stderr = new ByteArrayOutputStream();

    static Flow flow(Flow.Verdict verdict, int clientPort) {
        boolean isNew = verdict == Flow.Verdict.NEW;
        return new Flow(Instant.parse("2026-11-28T18:00:00.123Z"), verdict, isNew ? "" : "NO_BACKEND",
                isNew ? "random" : "", POD, "198.18.0.10", clientPort, "default/web", "198.19.0.10", 80, "tcp",
                isNew ? "198.18.0.21" : "", isNew ? 8080 : 0, 42);
    }

    @BeforeEach
    void start() throws Exception {
        vertx = Vertx.vertx();
        LocalCodecs.register(vertx.eventBus());
        vertx.eventBus().localConsumer(Addresses.FLOWS_RECENT, m -> m.reply(new RecentFlows(
                List.of(flow(Flow.Verdict.NEW, 40000), flow(Flow.Verdict.REJECT, 40001)), 3, 0, 0)));
        Router router = Router.router(vertx);
        FlowsHttp.routes().accept(router);
        server = vertx.createHttpServer().requestHandler(router).listen(0, "127.0.0.1").await(10, TimeUnit.SECONDS);
    }

    @AfterEach
    void stop() throws Exception {
        vertx.close().await(10, TimeUnit.SECONDS);
    }

    private int run(String... args) {
        String[] all = new String[args.length + 2];
        all[0] = "--health";
        all[1] = "127.0.0.1:" + server.actualPort();
        System.arraycopy(args, 0, all, 2, args.length);
        return new Enilbctl(new PrintStream(stdout, true, StandardCharsets.UTF_8),
                new PrintStream(stderr, true, StandardCharsets.UTF_8)).run(all, Map.of());
    }

    @Test
    void printsTheRecentEventsAsATableAndSaysWhatWasLost() {
        assertThat(run("flows")).isZero();
        List<String> lines = stdout.toString(StandardCharsets.UTF_8).lines().toList();
        assertThat(lines.get(0)).startsWith("TIME").contains("VERDICT", "POD", "SERVICE", "BACKEND / REASON");
        assertThat(lines.get(1)).contains("18:00:00.123", "new", "5ddb4f0c1a2b", "198.18.0.10:40000", "default/web",
                "198.19.0.10:80/tcp", "198.18.0.21:8080 (random)");
        assertThat(lines.get(2)).contains("reject", "NO_BACKEND");
        assertThat(stderr.toString(StandardCharsets.UTF_8)).contains("3 over the rate");
    }

    @Test
    void filtersGoToTheServerAndJsonIsTheServersJson() {
        assertThat(run("flows", "--verdict", "reject", "--service", "default/web", "--json")).isZero();
        JsonObject body = new JsonObject(stdout.toString(StandardCharsets.UTF_8));
        assertThat(body.getJsonArray("flows")).hasSize(1);
        assertThat(body.getJsonArray("flows").getJsonObject(0).getString("reason")).isEqualTo("NO_BACKEND");
    }

    @Test
    void badOptionsAndBadFiltersAreUsageErrors() {
        assertThat(run("flows", "--bogus")).isEqualTo(Enilbctl.USAGE);
        assertThat(run("flows", "--service")).isEqualTo(Enilbctl.USAGE);
        assertThat(run("flows", "--verdict", "maybe")).isEqualTo(Enilbctl.USAGE);
        assertThat(stderr.toString(StandardCharsets.UTF_8)).contains("unknown option --bogus", "--service needs a value",
                "verdict must be new, reject or drop");
    }

    @Test
    void followPrintsEachNewEventAsItComes() {
        CompletableFuture<Integer> follow = CompletableFuture.supplyAsync(() -> run("flows", "--follow", "--json"));
        Awaitility.await().atMost(java.time.Duration.ofSeconds(10))
                .until(() -> stdout.toString(StandardCharsets.UTF_8).lines().count() == 2);
        vertx.eventBus().publish(Addresses.FLOWS, flow(Flow.Verdict.NEW, 40002));
        Awaitility.await().atMost(java.time.Duration.ofSeconds(10))
                .until(() -> stdout.toString(StandardCharsets.UTF_8).contains(":40002"));
        server.close();
        assertThat(follow.join()).as("the stream ended").isEqualTo(Enilbctl.FAILED);
        assertThat(stdout.toString(StandardCharsets.UTF_8).lines().map(JsonObject::new).map(j -> j.getString("client")))
                .containsExactly("198.18.0.10:40000", "198.18.0.10:40001", "198.18.0.10:40002");
    }
}
