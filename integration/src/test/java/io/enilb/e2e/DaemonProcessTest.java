package io.enilb.e2e;

import static io.enilb.lab.ServiceYaml.Endpoint.ready;
import static io.enilb.lab.ServiceYaml.service;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import io.enilb.lab.CniPlugin;
import io.enilb.lab.DaemonProcess;
import io.enilb.lab.Lab;
import io.enilb.lab.LabFixture;
import io.enilb.lab.Pod;
import io.vertx.core.json.JsonObject;
import jnr.unixsocket.UnixDatagramChannel;
import jnr.unixsocket.UnixSocketAddress;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** enilbd as operators run it: readiness, metrics, sd_notify, SIGTERM, SIGKILL and restart, bad configuration. */
@org.junit.jupiter.api.Tag("kernel") // root, BPF and network namespaces: left out by -DexcludedGroups=kernel
@ExtendWith(LabFixture.Extension.class)
class DaemonProcessTest {
    Lab lab;
    Pod client;
    Pod backend;
    Path notifyDir;

    @BeforeEach
    void lab(LabFixture fixture) throws Exception {
        lab = fixture.lab();
        backend = lab.pod("be", "198.18.0.51");
        client = lab.macvlanPod("client", "198.18.0.50");
        lab.echoServer(backend.namespace(), "be", 8080, 5353);
        notifyDir = Files.createTempDirectory("enilb-notify");
    }

    @AfterEach
    void cleanUp() throws Exception {
        try (var files = Files.list(notifyDir)) {
            files.forEach(p -> p.toFile().delete());
        }
        Files.deleteIfExists(notifyDir);
    }

    private static String web(Pod backend) {
        return service("web", "198.19.2.1", "TCP", 80, 8080, "", List.of(ready(backend.ip())));
    }

    @Test
    void readyAfterSyncNotifiesSystemdServesMetricsAndSigtermLeavesTrafficFlowing() throws Exception {
        Path notifySocket = notifyDir.resolve("notify.sock");
        List<String> notifications = new CopyOnWriteArrayList<>();
        try (UnixDatagramChannel systemd = UnixDatagramChannel.open();
             DaemonProcess daemon = new DaemonProcess(DaemonProcess.distribution(),
                     Map.of("NOTIFY_SOCKET", notifySocket.toString(), "WATCHDOG_USEC", "1000000"))) {
            systemd.bind(new UnixSocketAddress(notifySocket.toFile()));
            Thread listener = new Thread(() -> {
                ByteBuffer buf = ByteBuffer.allocate(4096);
                while (systemd.isOpen()) {
                    try {
                        buf.clear();
                        systemd.receive(buf);
                        buf.flip();
                        notifications.add(StandardCharsets.UTF_8.decode(buf).toString());
                    } catch (Exception e) {
                        return;
                    }
                }
            }, "fake-systemd");
            listener.setDaemon(true);
            listener.start();

            daemon.putServices("web.yaml", web(backend));
            daemon.start();
            await().atMost(Duration.ofSeconds(60)).until(() -> daemon.readyStatus() == 200);
            await().atMost(Duration.ofSeconds(5)).until(() -> notifications.stream().anyMatch(n -> n.contains("READY=1")));
            await().atMost(Duration.ofSeconds(5)).until(() -> notifications.stream().anyMatch(n -> n.contains("WATCHDOG=1")));

            assertThat(CniPlugin.of(DaemonProcess.distribution()).add(client, daemon.socket()).status()).isZero();
            assertThat(client.http("198.19.2.1", 80).output()).isEqualTo("be " + client.ip() + "\n");

            DaemonProcess.Response metrics = daemon.get("/metrics");
            assertThat(metrics.status()).isEqualTo(200);
            assertThat(metrics.body()).contains("enilb_sync_latency_seconds", "enilb_natmap_queue_depth",
                    "enilb_map_entries", "enilb_map_capacity", "enilb_cni_requests_total", "enilb_datapath_drops_total",
                    "enilb_service_packets_total", "enilb_source_synced");
            assertThat(new JsonObject(daemon.get("/v1/services").body()).encode()).contains("198.19.2.1");
            assertThat(daemon.get("/v1/endpoints").body()).contains(CniPlugin.containerId(client));
            assertThat(daemon.get("/v1/programs").body()).contains("enilb_egress");

            long start = System.nanoTime();
            assertThat(daemon.terminate()).as(daemon.logText()).isZero();
            assertThat((System.nanoTime() - start) / 1_000_000).isLessThan(5000);
            await().atMost(Duration.ofSeconds(5)).until(() -> notifications.stream().anyMatch(n -> n.contains("STOPPING=1")));
            // the daemon is gone; the programs and pinned maps are not
            Lab.Result after = client.http("198.19.2.1", 80);
            assertThat(after.ok()).as(after.output()).isTrue();
            assertThat(after.output()).isEqualTo("be " + client.ip() + "\n");
        }
    }

    @Test
    void killedAndRestartedUnderLoadWithoutAFailedRequest() {
        try (DaemonProcess daemon = new DaemonProcess(DaemonProcess.distribution(), Map.of())) {
            daemon.putServices("web.yaml", web(backend));
            daemon.startAndAwaitReady(Duration.ofSeconds(60));
            assertThat(CniPlugin.of(DaemonProcess.distribution()).add(client, daemon.socket()).status()).isZero();
            CompletableFuture<Lab.Result> load = CompletableFuture.supplyAsync(
                    () -> client.load(120, "loop", "198.19.2.1", "80", "8"));
            // the Service's connections: to the ClusterIP as tc translates them, to the backend
            // itself when the socket was translated at connect (socket-lb)
            await().atMost(Duration.ofSeconds(5)).until(() -> client.exec("ss", "-Htan", "( dst 198.19.2.1 or dst "
                    + backend.ip() + " )").lines().count() > 0 || load.isDone());
            daemon.kill();
            daemon.startAndAwaitReady(Duration.ofSeconds(60));
            Lab.Result r = load.join();
            JsonObject result = new JsonObject(r.output().strip());
            assertThat(result.getInteger("fail")).as("%s", result).isZero();
            assertThat(result.getInteger("ok")).isGreaterThan(50);
        }
    }

    @Test
    void aBadConfigurationExitsTwoAndNamesTheKey() throws Exception {
        try (DaemonProcess daemon = new DaemonProcess(DaemonProcess.distribution(), Map.of("ENILB_NATMAP_BATCH_SIZE", "many"))) {
            Process p = daemon.start();
            assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
            assertThat(p.exitValue()).isEqualTo(2);
            assertThat(daemon.logText()).contains("natmap.batch-size");
        }
    }
}
