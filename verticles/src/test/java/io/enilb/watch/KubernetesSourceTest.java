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
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointPort;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.NonDeletingOperation;
import io.fabric8.kubernetes.client.dsl.base.ResourceDefinitionContext;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.http.MockResponse;
import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

@EnableKubernetesMockClient(crud = true)
class KubernetesSourceTest {
    private static final Duration WITHIN = Duration.ofSeconds(10);
    private static final ServiceKey WEB = new ServiceKey("default", "web");
    private static final List<EndpointPort> HTTP_8080 = List.of(slicePort("http", "TCP", 8080));

    KubernetesMockServer server;
    /** The mock server's client: writes the objects. */
    KubernetesClient client;
    /** The source's client, with the serialization the daemon's has (lean Services and EndpointSlices). */
    private KubernetesClient sourceClient;

    private ExecutorService context;
    private ServiceCatalog catalog;
    private final List<KubernetesSource> sources = new ArrayList<>();

    @BeforeEach
    void setUp() {
        context = Executors.newSingleThreadExecutor(r -> new Thread(r, "test-context"));
        catalog = new ServiceCatalog(new ServiceNormalizer("node-a"));
        // as the mock server makes its own client, with the serialization KubernetesSource.createClient gives the daemon's
        sourceClient = server.createClient(builder -> builder.withKubernetesSerialization(LeanSerialization.create()));
    }

    @AfterEach
    void tearDown() {
        sources.forEach(KubernetesSource::close);
        context.shutdownNow();
        // through the lean client: the mock server's own client cannot read the unreadable objects back
        sourceClient.services().inAnyNamespace().delete();
        sourceClient.discovery().v1().endpointSlices().inAnyNamespace().delete();
        sourceClient.close();
    }

    private RecordingListener startSource(long resyncMillis) {
        RecordingListener listener = new RecordingListener();
        KubernetesSource source = new KubernetesSource(sourceClient, resyncMillis, 2, catalog, context, listener);
        sources.add(source);
        source.start();
        return listener;
    }

    @Test
    void aStreamingListThatNeverEndsFallsBackToPagedLists() {
        create(service("web", "198.19.0.10", port("http", "TCP", 80)));
        put(slice("web-1", "web", HTTP_8080, ready("198.18.0.5")));
        sourceClient.getConfiguration().setWatchList(true);
        try {
            RecordingListener listener = new RecordingListener();
            KubernetesSource source = new KubernetesSource(sourceClient, 0, 2, Duration.ofSeconds(2), catalog, context,
                    listener);
            sources.add(source);
            source.start();
            await().atMost(WITHIN.plusSeconds(2)).until(listener::synced);
            assertThat(sourceClient.getConfiguration().isWatchList()).isFalse();
            assertThat(backendIps(WEB)).containsExactly("198.18.0.5");
        } finally {
            sourceClient.getConfiguration().setWatchList(false);
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
    void nothingIsReportedBeforeBothListingsEnd() {
        // the first page of slices comes late: the Services are all listed (their events handled)
        // long before; a Service reported then would go out without backends
        AtomicInteger servicePages = new AtomicInteger();
        AtomicInteger slicePages = new AtomicInteger();
        KubernetesCrudDispatcher dispatcher = new KubernetesCrudDispatcher(Collections.emptyList()) {
            @Override
            public MockResponse handleGet(String path) {
                MockResponse response = super.handleGet(path);
                if (path.contains("watch=")) {
                    return response;
                }
                if (path.startsWith("/api/v1/services?")) {
                    servicePages.incrementAndGet();
                } else if (path.startsWith("/apis/discovery.k8s.io/v1/endpointslices?") && slicePages.getAndIncrement() == 0) {
                    response.setBodyDelay(Duration.ofSeconds(4));
                }
                return response;
            }
        };
        KubernetesMockServer held = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(),
                dispatcher, false);
        held.init(InetAddress.getLoopbackAddress(), 0);
        KubernetesClient writer = held.createClient();
        KubernetesClient reader = held.createClient(b -> b.withKubernetesSerialization(LeanSerialization.create()));
        try {
            for (int i = 0; i < 6; i++) {
                writer.services().inNamespace("default").resource(service("svc-" + i, "198.19.0." + (20 + i),
                        port("http", "TCP", 80))).create();
                writer.discovery().v1().endpointSlices().inNamespace("default").resource(slice("svc-" + i + "-1",
                        "svc-" + i, HTTP_8080, ready("198.18.0." + (20 + i)))).create();
            }
            RecordingListener listener = new RecordingListener();
            KubernetesSource source = new KubernetesSource(reader, 0, 2, catalog, context, listener);
            sources.add(source);
            source.start();

            await().atMost(WITHIN).until(() -> servicePages.get() >= 1); // all of them (the mock ignores the limit)
            await().during(Duration.ofSeconds(1)).atMost(Duration.ofSeconds(3)).until(listener.changes::isEmpty);
            assertThat(slicePages.get()).as("the slices are still being listed").isEqualTo(1);

            await().atMost(WITHIN).until(listener::synced);
            assertThat(listener.changes).hasSize(6).allSatisfy(change -> assertThat(
                    change.service().clusterIps().get(0).ports().get(0).backends()).hasSize(1));
            assertThat(listener.changesBeforeSync).isEqualTo(6);

            // a change after the sync is followed; seen, it also says the mock has sent the slice
            // watch's replay of what it stores (a watch closed mid-replay deadlocks the mock's
            // shutdown: its event loop waits for the sender, which waits for the event loop)
            writer.discovery().v1().endpointSlices().inNamespace("default").resource(slice("svc-0-1", "svc-0",
                    HTTP_8080, ready("198.18.0.20"), ready("198.18.0.30"))).update();
            await().atMost(WITHIN).untilAsserted(() -> assertThat(listener.changes).hasSize(7).last()
                    .satisfies(change -> assertThat(change.service().clusterIps().get(0).ports().get(0).backends())
                            .hasSize(2)));
        } finally {
            // the source's watches first, then their client: a watch the informer reopened on a
            // closing client kept the server from shutting down
            sources.forEach(KubernetesSource::close);
            sources.clear();
            reader.close();
            writer.close();
            held.destroy();
        }
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

    /** Writes an object as JSON, whatever its fields hold (the mock server stores it as it is). */
    private void putJson(String plural, String json) {
        GenericKubernetesResource object = client.getKubernetesSerialization().unmarshal(json,
                GenericKubernetesResource.class);
        String apiVersion = object.getApiVersion();
        ResourceDefinitionContext resource = new ResourceDefinitionContext.Builder()
                .withGroup(apiVersion.contains("/") ? apiVersion.substring(0, apiVersion.indexOf('/')) : "")
                .withVersion(apiVersion.substring(apiVersion.indexOf('/') + 1)).withKind(object.getKind())
                .withPlural(plural).withNamespaced(true).build();
        client.genericKubernetesResources(resource).inNamespace("default").resource(object)
                .createOr(NonDeletingOperation::update);
    }

    /** A Service "bad" whose only port number is an object. */
    private static final String UNREADABLE_SERVICE = """
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "bad", "namespace": "default"},
             "spec": {"type": "ClusterIP", "clusterIP": "198.19.0.11",
                      "ports": [{"name": "http", "protocol": "TCP", "port": {"number": 80}}]}}""";

    @Test
    void anUnreadableObjectIsReportedAndChangesNothingElse() {
        ServiceKey bad = new ServiceKey("default", "bad");
        create(service("web", "198.19.0.10", port("http", "TCP", 80)));
        put(slice("web-1", "web", HTTP_8080, ready("198.18.0.1")));
        RecordingListener listener = startSource(0);
        await().atMost(WITHIN).until(listener::synced);

        putJson("services", UNREADABLE_SERVICE);
        await().atMost(WITHIN).untilAsserted(() -> assertThat(listener.errors)
                .containsOnlyKeys("service default/bad")
                .hasEntrySatisfying("service default/bad", reason -> assertThat(reason)
                        .contains("/spec/ports/0/port: expected an integer, got an object")));
        assertThat(catalog.snapshot()).containsOnlyKeys(WEB);

        // the watch goes on with the other objects
        put(slice("web-1", "web", HTTP_8080, ready("198.18.0.1"), ready("198.18.0.2")));
        await().atMost(WITHIN).untilAsserted(
                () -> assertThat(backendIps(WEB)).containsExactly("198.18.0.1", "198.18.0.2"));

        // readable again: programmed, and its error is gone (written through the lean client: the mock server's
        // own reads the object it replaces with fabric8's full model, which fails on the bad port)
        sourceClient.services().inNamespace("default")
                .resource(service("bad", "198.19.0.11", port("http", "TCP", 80)))
                .createOr(NonDeletingOperation::update);
        await().atMost(WITHIN).untilAsserted(() -> assertThat(catalog.snapshot()).containsKey(bad));
        await().atMost(WITHIN).until(() -> listener.errors.isEmpty());

        // unreadable once more: its last readable version stays in force
        NormalizedService readable = catalog.snapshot().get(bad);
        int published = listener.changes.size();
        putJson("services", UNREADABLE_SERVICE);
        await().atMost(WITHIN).until(() -> listener.errors.containsKey("service default/bad"));
        assertThat(catalog.snapshot().get(bad)).isEqualTo(readable);
        assertThat(listener.changes).hasSize(published);

        // deleted: gone, and so is its error
        sourceClient.services().inNamespace("default").withName("bad").delete();
        await().atMost(WITHIN).untilAsserted(() -> {
            assertThat(catalog.snapshot()).containsOnlyKeys(WEB);
            assertThat(listener.errors).isEmpty();
        });
    }

    @Test
    void anUnreadableObjectInTheInitialListDoesNotHoldUpTheSync() {
        create(service("web", "198.19.0.10", port("http", "TCP", 80)));
        put(slice("web-1", "web", HTTP_8080, ready("198.18.0.1")));
        putJson("endpointslices", """
                {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                 "metadata": {"name": "web-2", "namespace": "default", "labels": {"kubernetes.io/service-name": "web"}},
                 "addressType": "IPv4", "ports": [{"name": "http", "protocol": "TCP", "port": 8080}],
                 "endpoints": [{"addresses": ["198.18.0.2"], "conditions": {"ready": "perhaps"}}]}""");

        RecordingListener listener = startSource(0);
        await().atMost(WITHIN).until(listener::synced);

        assertThat(backendIps(WEB)).containsExactly("198.18.0.1");
        assertThat(listener.errors).containsOnlyKeys("endpointslice default/web-2");
        assertThat(listener.errors.get("endpointslice default/web-2"))
                .contains("/endpoints/0/conditions/ready: expected a boolean, got a string");
    }

    @Test
    void closeIsIdempotent() {
        RecordingListener listener = startSource(0);
        await().atMost(WITHIN).until(listener::synced);
        sources.get(0).close();
        sources.get(0).close();
    }
}
