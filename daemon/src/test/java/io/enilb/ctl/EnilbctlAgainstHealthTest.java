package io.enilb.ctl;

import static org.assertj.core.api.Assertions.assertThat;

import io.enilb.bpf.Ipv4;
import io.enilb.bpf.Structs.SvcKey;
import io.enilb.bus.Addresses;
import io.enilb.bus.BatchWritten;
import io.enilb.bus.FrontendState;
import io.enilb.bus.FrontendTable;
import io.enilb.bus.LocalCodecs;
import io.enilb.bus.PodAttachment;
import io.enilb.bus.Readiness;
import io.enilb.bus.ReadinessTracker;
import io.enilb.bus.SourceState;
import io.enilb.health.DatapathView;
import io.enilb.health.HealthVerticle;
import io.enilb.model.Backend;
import io.enilb.model.NormalizedService;
import io.enilb.model.Protocol;
import io.enilb.model.ServiceKey;
import io.enilb.model.ServicePort;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.Vertx;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** enilbctl against the real health server: the JSON it reads is the JSON health writes. */
class EnilbctlAgainstHealthTest {
    private static final ServiceKey WEB = new ServiceKey("default", "web");
    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private Vertx vertx;
    private HealthVerticle health;
    private final ByteArrayOutputStream stdout = new ByteArrayOutputStream();

    @BeforeEach
    void startHealth() throws Exception {
        vertx = Vertx.vertx();
        LocalCodecs.register(vertx.eventBus());
        SortedMap<ServiceKey, NormalizedService> services = new TreeMap<>(Map.of(WEB, new NormalizedService(WEB,
                "198.19.0.10", List.of(new ServicePort("http", Protocol.TCP, 80,
                        List.of(new Backend("198.18.0.5", 8080, Backend.State.ACTIVE)))), 0)));
        DatapathView datapath = new DatapathView() {
            public List<Program> programs() {
                return List.of(new Program("enilb_egress", 41), new Program("enilb_connect4", 45));
            }

            public List<SocketHook> socketHooks() {
                return List.of(new SocketHook("connect4", "enilb_connect4", 45, "/sys/fs/cgroup/unified"));
            }

            public ServiceCounters serviceCounters(int svcId) {
                return new ServiceCounters(10, 1500, 2);
            }

            public Map<String, Long> drops() {
                return Map.of("no_backend", 7L);
            }

            public List<MapUsage> maps() {
                return List.of();
            }
        };
        health = new HealthVerticle("127.0.0.1", 0, registry, () -> datapath, "auto");
        vertx.deployVerticle(health).toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        // what the watcher, nat-map and attach publish
        vertx.eventBus().publish(Addresses.SOURCE_STATE, new SourceState("file", true, new TreeMap<>(), 0, services));
        vertx.eventBus().publish(Addresses.NATMAP_BATCH_WRITTEN, new BatchWritten(1, 1, 1000, FrontendTable.EMPTY.with(
                Map.of(new SvcKey(Ipv4.parse("198.19.0.10"), 80, Protocol.TCP.number), FrontendState.programmed(3)))));
        vertx.eventBus().publish(Addresses.POD_ATTACHED, new PodAttachment("0123456789abcdef", "eth0", "/run/netns/a",
                List.of("198.18.0.5")));
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(10))
                .until(() -> ctl("endpoints") == 0 && out().contains("0123456789ab"));
    }

    @AfterEach
    void stop() throws Exception {
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        registry.close();
    }

    private int ctl(String... command) {
        stdout.reset();
        String[] args = new String[command.length + 2];
        args[0] = "--health";
        args[1] = "127.0.0.1:" + health.actualPort();
        System.arraycopy(command, 0, args, 2, command.length);
        return new Enilbctl(new PrintStream(stdout, true, StandardCharsets.UTF_8), System.err).run(args, Map.of());
    }

    private String out() {
        return stdout.toString(StandardCharsets.UTF_8);
    }

    @Test
    void readsEveryEndpoint() {
        assertThat(ctl("services")).isZero();
        assertThat(out()).isEqualTo("""
                SERVICE      FRONTEND            STATE       SVC-ID  BACKENDS         ERROR
                default/web  198.19.0.10:80/TCP  programmed       3  198.18.0.5:8080  -
                """);
        assertThat(ctl("endpoints")).isZero();
        assertThat(out()).contains("0123456789ab  eth0    198.18.0.5  /run/netns/a");
        assertThat(ctl("programs")).isZero();
        assertThat(out()).containsPattern("enilb_egress +41 +0123456789ab +eth0 +egress")
                .containsPattern("enilb_connect4 +45 .*cgroup /sys/fs/cgroup/unified +connect4");
        assertThat(ctl("counters")).isZero();
        assertThat(out()).contains("default/web  198.19.0.10:80/TCP       10   1500          2",
                "no_backend         7");
    }

    @Test
    void statusFollowsReadiness() throws Exception {
        assertThat(ctl("status")).isEqualTo(3);
        assertThat(out()).contains("nat-map     not reported yet", "cni-socket  not reported yet");
        for (String component : ReadinessTracker.REQUIRED) {
            vertx.eventBus().publish(Addresses.READINESS, Readiness.ok(component));
        }
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(10))
                .until(() -> ctl("status") == 0);
        assertThat(out()).contains("ready     yes").doesNotContain("NOT READY BECAUSE");
    }
}
