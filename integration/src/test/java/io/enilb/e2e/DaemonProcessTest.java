package io.enilb.e2e;

import static io.enilb.lab.ServiceYaml.Endpoint.ready;
import static io.enilb.lab.ServiceYaml.service;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import io.enilb.lab.CniPlugin;
import io.enilb.lab.DaemonProcess;
import io.enilb.lab.Lab;
import io.enilb.lab.LabFixture;
import io.enilb.lab.Pod;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.http.MockResponse;
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

    /** Starts {@code daemon} with web.yaml and attaches the client through the plugin. */
    private void serveWebToTheClient(DaemonProcess daemon) {
        daemon.putServices("web.yaml", web(backend));
        daemon.startAndAwaitReady(Duration.ofSeconds(60));
        assertThat(CniPlugin.of(DaemonProcess.distribution()).add(client, daemon.socket()).status()).isZero();
    }

    @Test
    void killedAndRestartedUnderLoadWithoutAFailedRequest() {
        try (DaemonProcess daemon = new DaemonProcess(DaemonProcess.distribution(), Map.of())) {
            serveWebToTheClient(daemon);
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

    /**
     * A Service file broken while the daemon was down: the restarted daemon cannot read it, and
     * must not take its Service out of the pinned maps for that (a bad input changes nothing).
     */
    @Test
    void aServiceFileBrokenWhileTheDaemonWasDownKeepsItsServiceServed() {
        try (DaemonProcess daemon = new DaemonProcess(DaemonProcess.distribution(), Map.of())) {
            serveWebToTheClient(daemon);
            assertThat(client.http("198.19.2.1", 80).ok()).isTrue();
            assertThat(daemon.terminate()).as(daemon.logText()).isZero();

            daemon.putServices("web.yaml", "kind: [\n");
            daemon.start();
            await().atMost(Duration.ofSeconds(60)).until(() -> daemon.get("/readyz").body().contains("web.yaml"));
            await().during(Duration.ofSeconds(2)).atMost(Duration.ofSeconds(10))
                    .until(() -> client.http("198.19.2.1", 80).ok());

            daemon.putServices("web.yaml", web(backend));
            await().atMost(Duration.ofSeconds(30)).until(() -> daemon.readyStatus() == 200);
            assertThat(client.http("198.19.2.1", 80).output()).isEqualTo("be " + client.ip() + "\n");
        }
    }

    /**
     * The Kubernetes source restarting over maps that hold every Service: the API server lists the
     * Services at once and the EndpointSlices seconds later. Nothing may reach the maps before
     * both are listed (a Service without its slices would be written without backends, and new
     * connections to it refused until its slices came).
     */
    @Test
    void restartedOverAnApiServerThatListsSlicesLateWithoutAFailedRequest() throws Exception {
        AtomicBoolean slicesLate = new AtomicBoolean();
        AtomicInteger lateSliceLists = new AtomicInteger();
        KubernetesCrudDispatcher dispatcher = new KubernetesCrudDispatcher(Collections.emptyList()) {
            @Override
            public MockResponse handleGet(String path) {
                MockResponse response = super.handleGet(path);
                if (slicesLate.get() && path.startsWith("/apis/discovery.k8s.io/v1/endpointslices?")
                        && !path.contains("watch=")) {
                    lateSliceLists.incrementAndGet();
                    response.setBodyDelay(Duration.ofSeconds(6));
                }
                return response;
            }
        };
        KubernetesMockServer api = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(),
                dispatcher, false);
        api.init(InetAddress.getLoopbackAddress(), 0);
        Path kubeconfig = Files.createTempFile(notifyDir, "kubeconfig", ".yaml");
        Files.writeString(kubeconfig, "apiVersion: v1\nkind: Config\nclusters:\n- name: mock\n  cluster:\n"
                + "    server: http://127.0.0.1:" + api.getPort() + "\ncontexts:\n- name: mock\n  context:\n"
                + "    cluster: mock\n    user: test\ncurrent-context: mock\nusers:\n- name: test\n  user: {}\n");
        try (KubernetesClient writer = api.createClient();
             DaemonProcess daemon = new DaemonProcess(DaemonProcess.distribution(), Map.of())) {
            writer.services().inNamespace("default").resource(new ServiceBuilder().withNewMetadata().withName("web")
                    .endMetadata().withNewSpec().withType("ClusterIP").withClusterIP("198.19.2.1").addNewPort()
                    .withName("http").withProtocol("TCP").withPort(80).withTargetPort(new IntOrString(8080)).endPort()
                    .endSpec().build()).create();
            writer.discovery().v1().endpointSlices().inNamespace("default").resource(new EndpointSliceBuilder()
                    .withNewMetadata().withName("web-1").addToLabels("kubernetes.io/service-name", "web").endMetadata()
                    .withAddressType("IPv4").addNewPort().withName("http").withProtocol("TCP").withPort(8080).endPort()
                    .addNewEndpoint().withAddresses(backend.ip()).withNewConditions().withReady(true).endConditions()
                    .endEndpoint().build()).create();
            daemon.writeConfig("kubernetes: {kubeconfig: " + kubeconfig + "}\n");
            Files.writeString(daemon.configFile(), Files.readString(daemon.configFile())
                    .replace("source: file", "source: kubernetes"));
            daemon.startAndAwaitReady(Duration.ofSeconds(60));
            assertThat(CniPlugin.of(DaemonProcess.distribution()).add(client, daemon.socket()).status()).isZero();
            assertThat(client.http("198.19.2.1", 80).output()).isEqualTo("be " + client.ip() + "\n");

            CompletableFuture<Lab.Result> load = CompletableFuture.supplyAsync(
                    () -> client.load(120, "loop", "198.19.2.1", "80", "20"));
            slicesLate.set(true);
            assertThat(daemon.terminate()).as(daemon.logText()).isZero();
            daemon.startAndAwaitReady(Duration.ofSeconds(60));
            assertThat(lateSliceLists.get()).as("the restarted daemon listed the slices late").isPositive();
            assertThat(daemon.logText()).contains("kubernetes source: watching");
            JsonObject result = new JsonObject(load.join().output().strip());
            assertThat(result.getInteger("fail")).as("%s", result).isZero();
            assertThat(result.getInteger("ok")).isGreaterThan(50);
        } finally {
            api.destroy();
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
