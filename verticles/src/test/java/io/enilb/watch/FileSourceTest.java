package io.enilb.watch;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.enilb.model.Backend;
import io.enilb.model.NormalizedService;
import io.enilb.model.ServiceKey;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FileSourceTest {
    /** The contract is one second; the margin covers a slow CI machine. */
    private static final Duration WITHIN = Duration.ofMillis(1500);
    private static final ServiceKey WEB = new ServiceKey("default", "web");
    private static final ServiceKey API = new ServiceKey("shop", "api");

    @TempDir
    Path dir;

    private final ServiceCatalog catalog = new ServiceCatalog(new ServiceNormalizer("node-a"));
    private final RecordingListener listener = new RecordingListener();
    private FileSource source;

    @AfterEach
    void tearDown() {
        if (source != null) {
            source.close();
        }
    }

    static String service(String namespace, String name, String clusterIp) {
        return """
                apiVersion: v1
                kind: Service
                metadata:
                  name: %s
                  namespace: %s
                spec:
                  clusterIP: %s
                  ports:
                  - name: http
                    port: 80
                """.formatted(name, namespace, clusterIp);
    }

    static String slice(String namespace, String service, String... ips) {
        StringBuilder endpoints = new StringBuilder();
        for (String ip : ips) {
            endpoints.append("- addresses: [\"").append(ip).append("\"]\n  conditions: {ready: true}\n");
        }
        return """
                apiVersion: discovery.k8s.io/v1
                kind: EndpointSlice
                metadata:
                  name: %s-abc
                  namespace: %s
                  labels:
                    kubernetes.io/service-name: %s
                addressType: IPv4
                ports:
                - name: http
                  port: 8080
                  protocol: TCP
                endpoints:
                """.formatted(service, namespace, service) + endpoints;
    }

    private static final String CONFIG_MAP = """
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: unrelated
            data:
              a: b
            """;

    private void start() {
        source = new FileSource(dir, Duration.ofMillis(500), catalog, Runnable::run, listener);
        source.start();
    }

    private List<String> backendIps(ServiceKey key) {
        NormalizedService s = catalog.snapshot().get(key);
        return s == null ? null : s.clusterIps().get(0).ports().get(0).backends().stream().map(Backend::ip).toList();
    }

    private void write(String name, String... documents) throws IOException {
        // write then rename, as a careful operator (or a ConfigMap volume) does
        Path tmp = dir.resolve("." + name + ".tmp");
        Files.writeString(tmp, String.join("---\n", documents));
        Files.move(tmp, dir.resolve(name), java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }

    @Test
    void readsMultiDocumentFilesAndIgnoresOtherKinds() throws IOException {
        write("web.yaml", service("default", "web", "198.19.0.10"), slice("default", "web", "198.18.0.1"),
                CONFIG_MAP);
        write("api.yml", service("shop", "api", "198.19.0.11"));
        start();
        await().atMost(WITHIN).until(listener::synced);
        assertThat(listener.changesBeforeSync).isEqualTo(2);
        assertThat(backendIps(WEB)).containsExactly("198.18.0.1");
        assertThat(backendIps(API)).isEmpty();
        assertThat(listener.errors).isEmpty();
    }

    @Test
    void emptyDirectoryIsSynced() {
        start();
        await().atMost(WITHIN).until(listener::synced);
        assertThat(catalog.snapshot()).isEmpty();
    }

    @Test
    void createModifyAndDeleteTakeEffectWithinASecond() throws IOException {
        start();
        await().atMost(WITHIN).until(listener::synced);

        write("web.yaml", service("default", "web", "198.19.0.10"), slice("default", "web", "198.18.0.1"));
        await().atMost(WITHIN).untilAsserted(() -> assertThat(backendIps(WEB)).containsExactly("198.18.0.1"));

        write("web.yaml", service("default", "web", "198.19.0.10"),
                slice("default", "web", "198.18.0.1", "198.18.0.2"));
        await().atMost(WITHIN).untilAsserted(
                () -> assertThat(backendIps(WEB)).containsExactly("198.18.0.1", "198.18.0.2"));

        Files.delete(dir.resolve("web.yaml"));
        await().atMost(WITHIN).untilAsserted(() -> assertThat(catalog.snapshot()).isEmpty());
        assertThat(listener.changes.get(listener.changes.size() - 1).isDelete()).isTrue();
    }

    @Test
    void inPlaceWriteIsSeenToo() throws IOException {
        start();
        await().atMost(WITHIN).until(listener::synced);
        Files.writeString(dir.resolve("web.yaml"), service("default", "web", "198.19.0.10"));
        await().atMost(WITHIN).until(() -> catalog.snapshot().containsKey(WEB));
    }

    @Test
    void malformedFileKeepsItsLastGoodContentAndReportsTheError() throws IOException {
        write("web.yaml", service("default", "web", "198.19.0.10"), slice("default", "web", "198.18.0.1"));
        start();
        await().atMost(WITHIN).until(listener::synced);
        int changesBefore = listener.changes.size();

        write("web.yaml", "apiVersion: v1\nkind: Service\nmetadata: [unclosed\n");
        await().atMost(WITHIN).until(() -> listener.errors.containsKey("web.yaml"));
        assertThat(listener.errors.get("web.yaml")).isNotBlank();
        assertThat(source.parseFailures()).isEqualTo(1);
        assertThat(backendIps(WEB)).containsExactly("198.18.0.1");
        assertThat(listener.changes).hasSize(changesBefore);

        write("web.yaml", service("default", "web", "198.19.0.10"), slice("default", "web", "198.18.0.3"));
        await().atMost(WITHIN).untilAsserted(() -> {
            assertThat(listener.errors).isEmpty();
            assertThat(backendIps(WEB)).containsExactly("198.18.0.3");
        });
    }

    @Test
    void objectWithoutNameIsAnError() throws IOException {
        write("bad.yaml", "apiVersion: v1\nkind: Service\nmetadata: {namespace: x}\nspec: {clusterIP: 198.19.0.1}\n");
        start();
        await().atMost(WITHIN).until(listener::synced);
        assertThat(listener.errors).containsKey("bad.yaml");
        assertThat(listener.errors.get("bad.yaml")).contains("metadata.name");
    }

    @Test
    void missingDirectoryIsReportedAndPickedUpWhenItAppears() throws IOException {
        Path missing = dir.resolve("later");
        source = new FileSource(missing, Duration.ofMillis(500), catalog, Runnable::run, listener);
        source.start();
        await().atMost(WITHIN).until(listener::synced);
        assertThat(listener.errors).containsKey(missing.toString());

        Files.createDirectory(missing);
        Files.writeString(missing.resolve("web.yaml"), service("default", "web", "198.19.0.10"));
        await().atMost(WITHIN).untilAsserted(() -> {
            assertThat(listener.errors).isEmpty();
            assertThat(catalog.snapshot()).containsKey(WEB);
        });
    }

    @Test
    void closeIsIdempotent() {
        start();
        source.close();
        source.close();
    }
}
