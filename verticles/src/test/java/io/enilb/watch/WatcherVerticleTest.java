package io.enilb.watch;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.enilb.bus.Addresses;
import io.enilb.bus.Readiness;
import io.enilb.bus.SourceState;
import io.enilb.bus.SyncState;
import io.enilb.model.ServiceChange;
import io.enilb.model.ServiceKey;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.junit5.VertxExtension;
import io.vertx.junit5.VertxTestContext;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

@EnableKubernetesMockClient(crud = true)
@ExtendWith(VertxExtension.class)
class WatcherVerticleTest {
    private static final Duration WITHIN = Duration.ofSeconds(10);
    private static final ServiceKey WEB = new ServiceKey("default", "web");

    KubernetesMockServer server;
    KubernetesClient client;

    @TempDir
    Path dir;

    private Vertx vertx;
    /** Everything the watcher published, in order of arrival. */
    private final List<Object> published = new CopyOnWriteArrayList<>();

    /** The extension's Vert.x (closed after each test) with every address the watcher publishes on recorded. */
    @BeforeEach
    void setUp(Vertx vertx) {
        this.vertx = vertx;
        for (String address : List.of(Addresses.SERVICES_CHANGED, Addresses.SOURCE_SYNC, Addresses.READINESS)) {
            vertx.eventBus().consumer(address, m -> published.add(m.body()));
        }
    }

    @AfterEach
    void tearDown() {
        client.services().inAnyNamespace().delete();
    }

    private static <T> T join(Future<T> future) throws Exception {
        return future.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    private String deploy(WatcherVerticle verticle, JsonObject config) throws Exception {
        return join(vertx.deployVerticle(verticle, new DeploymentOptions().setConfig(config)));
    }

    private boolean publishedSynced() {
        return published.contains(new SyncState(published.isEmpty() ? "" : sourceOf(), true));
    }

    private String sourceOf() {
        return published.stream().filter(SyncState.class::isInstance).map(o -> ((SyncState) o).source())
                .findFirst().orElse("");
    }

    @Test
    void fileSourcePublishesTheInitialStateBeforeSynced() throws Exception {
        Files.writeString(dir.resolve("web.yaml"), FileSourceTest.service("default", "web", "198.19.0.10")
                + "---\n" + FileSourceTest.slice("default", "web", "198.18.0.1"));
        WatcherVerticle watcher = new WatcherVerticle();
        deploy(watcher, WatcherVerticle.config("file", dir.toString(), "", "node-a"));

        await().atMost(WITHIN).until(this::publishedSynced);
        int syncedAt = published.indexOf(new SyncState("file", true));
        assertThat(published.subList(0, syncedAt)).filteredOn(ServiceChange.class::isInstance)
                .extracting(o -> ((ServiceChange) o).key()).containsExactly(WEB);
        assertThat(published.get(0)).isEqualTo(new SyncState("file", false));
        await().atMost(WITHIN).until(() -> published.contains(Readiness.ok(WatcherVerticle.COMPONENT)));
        assertThat(watcher.state().synced()).isTrue();
        assertThat(watcher.state().services()).containsOnlyKeys(WEB);
    }

    @Test
    void aFileThatDoesNotParseAtStartHoldsBackTheCompleteStateUntilItDoes() throws Exception {
        ServiceKey api = new ServiceKey("default", "api");
        Files.writeString(dir.resolve("api.yaml"), FileSourceTest.service("default", "api", "198.19.0.11")
                + "---\n" + FileSourceTest.slice("default", "api", "198.18.0.2"));
        Files.writeString(dir.resolve("web.yaml"), "kind: [");
        WatcherVerticle watcher = new WatcherVerticle();
        deploy(watcher, WatcherVerticle.config("file", dir.toString(), "", "node-a"));

        // what parses goes out; the state is not complete (nat-map would remove web's entries)
        await().atMost(WITHIN).until(() -> watcher.state() != null && watcher.state().synced()
                && watcher.state().errors().containsKey("web.yaml"));
        assertThat(published).filteredOn(ServiceChange.class::isInstance).extracting(o -> ((ServiceChange) o).key())
                .containsExactly(api);
        assertThat(published).doesNotContain(new SyncState("file", true));

        Files.writeString(dir.resolve("web.yaml"), FileSourceTest.service("default", "web", "198.19.0.10"));
        await().atMost(WITHIN).until(this::publishedSynced);
        assertThat(watcher.services()).containsOnlyKeys(api, WEB);
        // complete once: a file that breaks afterwards keeps its last good content and takes nothing back
        Files.writeString(dir.resolve("web.yaml"), "kind: [");
        await().atMost(WITHIN).until(() -> watcher.state().errors().containsKey("web.yaml"));
        assertThat(published).filteredOn(SyncState.class::isInstance).containsExactly(
                new SyncState("file", false), new SyncState("file", true));
    }

    @Test
    void theWholeStateIsPublishedAsOneSnapshot(VertxTestContext ctx) throws Exception {
        Files.writeString(dir.resolve("web.yaml"), FileSourceTest.service("default", "web", "198.19.0.10")
                + "---\n" + FileSourceTest.slice("default", "web", "198.18.0.1"));
        vertx.eventBus().<SourceState>consumer(Addresses.SOURCE_STATE, m -> ctx.verify(() -> {
            SourceState state = m.body();
            assertThat(state.source()).isEqualTo("file");
            if (state.synced()) {
                assertThat(state.services()).containsOnlyKeys(WEB);
                assertThat(state.services().get(WEB).clusterIps().get(0).ports().get(0).backends()).hasSize(1);
                assertThat(state.errors()).isEmpty();
                ctx.completeNow();
            }
        }));
        deploy(new WatcherVerticle(), WatcherVerticle.config("file", dir.toString(), "", "node-a"));
    }

    @Test
    void brokenFileMakesTheSourceUnreadyWithTheFileNamed() throws Exception {
        Files.writeString(dir.resolve("web.yaml"), FileSourceTest.service("default", "web", "198.19.0.10"));
        WatcherVerticle watcher = new WatcherVerticle();
        deploy(watcher, WatcherVerticle.config("file", dir.toString(), "", "node-a"));
        await().atMost(WITHIN).until(() -> published.contains(Readiness.ok(WatcherVerticle.COMPONENT)));

        Files.writeString(dir.resolve("web.yaml"), "kind: [");
        await().atMost(WITHIN).until(() -> published.stream().anyMatch(o -> o instanceof Readiness r
                && !r.ready() && r.reason().startsWith("web.yaml: ")));
        await().atMost(WITHIN).untilAsserted(() -> {
            assertThat(watcher.state().errors()).containsKey("web.yaml");
            assertThat(watcher.state().errorCount()).isEqualTo(1);
        });
        assertThat(watcher.services()).containsOnlyKeys(WEB);
    }

    @Test
    void kubernetesSourceWithInjectedClient() throws Exception {
        client.services().inNamespace("default")
                .resource(K8s.service("web", "198.19.0.10", K8s.port("http", "TCP", 80))).create();
        WatcherVerticle watcher = new WatcherVerticle(client);
        String id = deploy(watcher, WatcherVerticle.config("kubernetes", "", "", "node-a"));

        await().atMost(WITHIN).until(this::publishedSynced);
        assertThat(published.indexOf(new SyncState("kubernetes", true)))
                .isGreaterThan(published.indexOf(new ServiceChange(WEB, watcher.services().get(WEB))));

        client.services().inNamespace("default").withName("web").delete();
        await().atMost(WITHIN).until(() -> published.contains(ServiceChange.deleted(WEB)));

        join(vertx.undeploy(id));
        join(watcher.stop()); // a second stop is harmless
        assertThat(client.services().inAnyNamespace().list().getItems()).isEmpty(); // injected client still open
    }

    @Test
    void kubernetesSourceBuildsItsClientFromAKubeconfigOnTheSharedVertx() throws Exception {
        client.services().inNamespace("default")
                .resource(K8s.service("web", "198.19.0.10", K8s.port("http", "TCP", 80))).create();
        Path kubeconfig = dir.resolve("kubeconfig");
        Files.writeString(kubeconfig, """
                apiVersion: v1
                kind: Config
                clusters:
                - name: mock
                  cluster:
                    server: %s
                    insecure-skip-tls-verify: true
                users:
                - name: mock
                  user:
                    token: secret
                contexts:
                - name: mock
                  context: {cluster: mock, user: mock, namespace: default}
                current-context: mock
                """.formatted(client.getMasterUrl()));
        WatcherVerticle watcher = new WatcherVerticle();
        String id = deploy(watcher, WatcherVerticle.config("kubernetes", "", kubeconfig.toString(), "node-a"));
        await().atMost(WITHIN).until(this::publishedSynced);
        assertThat(watcher.services()).containsOnlyKeys(WEB);

        join(vertx.undeploy(id));
        // the client was closed, the daemon's Vert.x instance was not
        assertThat(join(vertx.executeBlocking(() -> "alive"))).isEqualTo("alive");
    }

    @Test
    void missingKubeconfigFailsTheDeploymentNamingTheFile() {
        String missing = dir.resolve("no-such-kubeconfig").toString();
        assertThatThrownBy(() -> deploy(new WatcherVerticle(),
                WatcherVerticle.config("kubernetes", "", missing, "node-a")))
                .hasMessageContaining(missing);
    }

    @Test
    void unknownSourceFailsTheDeployment() {
        assertThatThrownBy(() -> deploy(new WatcherVerticle(), WatcherVerticle.config("etcd", "", "", "node-a")))
                .hasMessageContaining("source must be kubernetes or file");
    }
}
