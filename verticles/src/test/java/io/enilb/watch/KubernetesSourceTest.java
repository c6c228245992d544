package io.enilb.watch;

import static io.enilb.watch.K8s.port;
import static io.enilb.watch.K8s.ready;
import static io.enilb.watch.K8s.service;
import static io.enilb.watch.K8s.slice;
import static io.enilb.watch.K8s.slicePort;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.enilb.model.Backend;
import io.enilb.model.NormalizedService;
import io.enilb.model.ServiceChange;
import io.enilb.model.ServiceKey;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointPort;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

@EnableKubernetesMockClient(crud = true)
class KubernetesSourceTest {
    private static final Duration WITHIN = Duration.ofSeconds(10);
    private static final ServiceKey WEB = new ServiceKey("default", "web");
    private static final List<EndpointPort> HTTP_8080 = List.of(slicePort("http", "TCP", 8080));

    KubernetesMockServer server;
    KubernetesClient client;

    private ExecutorService context;
    private ServiceCatalog catalog;
    private final List<KubernetesSource> sources = new ArrayList<>();

    @BeforeEach
    void setUp() {
        context = Executors.newSingleThreadExecutor(r -> new Thread(r, "test-context"));
        catalog = new ServiceCatalog(new ServiceNormalizer("node-a"));
    }

    @AfterEach
    void tearDown() {
        sources.forEach(KubernetesSource::close);
        context.shutdownNow();
        client.services().inAnyNamespace().delete();
        client.discovery().v1().endpointSlices().inAnyNamespace().delete();
    }

    private RecordingListener startSource(long resyncMillis) {
        RecordingListener listener = new RecordingListener();
        KubernetesSource source = new KubernetesSource(client, resyncMillis, 2, catalog, context, listener);
        sources.add(source);
        source.start();
        return listener;
    }

    @Test
    void aStreamingListThatNeverEndsFallsBackToPagedLists() {
        create(service("web", "198.19.0.10", port("http", "TCP", 80)));
        put(slice("web-1", "web", HTTP_8080, ready("198.18.0.5")));
        client.getConfiguration().setWatchList(true);
        try {
            RecordingListener listener = new RecordingListener();
            KubernetesSource source = new KubernetesSource(client, 0, 2, Duration.ofSeconds(2), catalog, context,
                    listener);
            sources.add(source);
            source.start();
            await().atMost(WITHIN.plusSeconds(2)).until(listener::synced);
            assertThat(client.getConfiguration().isWatchList()).isFalse();
            assertThat(backendIps(WEB)).containsExactly("198.18.0.5");
        } finally {
            client.getConfiguration().setWatchList(false);
        }
    }

    private void create(Service service) {
        client.services().inNamespace("default").resource(service).create();
    }

    private void put(EndpointSlice slice) {
        client.discovery().v1().endpointSlices().inNamespace("default").resource(slice).createOr(r -> r.update());
    }

    private List<String> backendIps(ServiceKey key) {
        NormalizedService s = catalog.snapshot().get(key);
        return s == null ? null : s.clusterIps().get(0).ports().get(0).backends().stream().map(Backend::ip).toList();
    }

    @Test
    void initialStateIsCompleteBeforeSynced() {
        create(service("web", "198.19.0.10", port("http", "TCP", 80)));
        create(service("api", "198.19.0.11", port("http", "TCP", 80)));
        put(slice("web-1", "web", HTTP_8080, ready("198.18.0.1")));

        RecordingListener listener = startSource(0);
        await().atMost(WITHIN).until(listener::synced);

        assertThat(listener.changes.subList(0, listener.changesBeforeSync))
                .extracting(ServiceChange::key)
                .contains(WEB, new ServiceKey("default", "api"));
        assertThat(backendIps(WEB)).containsExactly("198.18.0.1");
        assertThat(sources.get(0).informersSynced()).isTrue();
    }

    @Test
    void createUpdateAndDeleteAreFollowed() {
        RecordingListener listener = startSource(0);
        await().atMost(WITHIN).until(listener::synced);
        assertThat(listener.changes).isEmpty();

        create(service("web", "198.19.0.10", port("http", "TCP", 80)));
        await().atMost(WITHIN).untilAsserted(() -> assertThat(backendIps(WEB)).isEmpty());

        put(slice("web-1", "web", HTTP_8080, ready("198.18.0.1")));
        await().atMost(WITHIN).untilAsserted(() -> assertThat(backendIps(WEB)).containsExactly("198.18.0.1"));

        put(slice("web-1", "web", HTTP_8080, ready("198.18.0.1"), ready("198.18.0.2")));
        await().atMost(WITHIN).untilAsserted(
                () -> assertThat(backendIps(WEB)).containsExactly("198.18.0.1", "198.18.0.2"));

        client.discovery().v1().endpointSlices().inNamespace("default").withName("web-1").delete();
        await().atMost(WITHIN).untilAsserted(() -> assertThat(backendIps(WEB)).isEmpty());

        client.services().inNamespace("default").withName("web").delete();
        await().atMost(WITHIN).untilAsserted(() -> assertThat(catalog.snapshot()).isEmpty());
        assertThat(listener.changes.get(listener.changes.size() - 1)).isEqualTo(ServiceChange.deleted(WEB));
    }

    @Test
    void deleteMissedWhileNotWatchingIsFoundByTheRelist() {
        create(service("web", "198.19.0.10", port("http", "TCP", 80)));
        RecordingListener first = startSource(0);
        await().atMost(WITHIN).until(first::synced);
        assertThat(catalog.snapshot()).containsKey(WEB);
        sources.get(0).close();

        client.services().inNamespace("default").withName("web").delete();

        RecordingListener second = startSource(0);
        await().atMost(WITHIN).until(second::synced);
        assertThat(second.changes).containsExactly(ServiceChange.deleted(WEB));
        assertThat(first.changes).hasSize(1);
        assertThat(catalog.snapshot()).isEmpty();
    }

    @Test
    void resyncDoesNotRepublishUnchangedServices() {
        create(service("web", "198.19.0.10", port("http", "TCP", 80)));
        put(slice("web-1", "web", HTTP_8080, ready("198.18.0.1")));
        RecordingListener listener = startSource(1000); // fabric8's minimum
        await().atMost(WITHIN).until(listener::synced);
        await().atMost(WITHIN).until(() -> listener.changes.size() >= 1);
        int published = listener.changes.size();

        // two resync periods pass without any change being published
        await().during(Duration.ofMillis(2500)).atMost(Duration.ofSeconds(4))
                .until(() -> listener.changes.size() == published);

        put(slice("web-1", "web", HTTP_8080, ready("198.18.0.1"), ready("198.18.0.3")));
        await().atMost(WITHIN).until(() -> listener.changes.size() == published + 1);
    }

    @Test
    void closeIsIdempotent() {
        RecordingListener listener = startSource(0);
        await().atMost(WITHIN).until(listener::synced);
        sources.get(0).close();
        sources.get(0).close();
    }
}
