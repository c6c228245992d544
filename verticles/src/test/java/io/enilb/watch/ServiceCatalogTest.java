package io.enilb.watch;

import static io.enilb.model.Protocol.TCP;
import static io.enilb.watch.K8s.active;
import static io.enilb.watch.K8s.normalized;
import static io.enilb.watch.K8s.port;
import static io.enilb.watch.K8s.ready;
import static io.enilb.watch.K8s.service;
import static io.enilb.watch.K8s.slice;
import static io.enilb.watch.K8s.slicePort;
import static io.enilb.watch.K8s.sp;
import static org.assertj.core.api.Assertions.assertThat;

import io.enilb.model.ServiceChange;
import io.enilb.model.ServiceKey;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointPort;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class ServiceCatalogTest {
    private static final String IP = "198.19.0.10";
    private static final ServiceKey WEB = new ServiceKey("default", "web");
    private static final List<EndpointPort> HTTP_8080 = List.of(slicePort("http", "TCP", 8080));

    private ServiceCatalog catalog;

    @BeforeEach
    void setUp() {
        catalog = new ServiceCatalog(new ServiceNormalizer("node-a"));
    }

    private static Service web() {
        return service("web", IP, port("http", "TCP", 80));
    }

    @Test
    void serviceWithoutSlicesIsPublishedWithoutBackends() {
        assertThat(catalog.putService(web()))
                .containsExactly(new ServiceChange(WEB, normalized("web", IP, 0, sp("http", TCP, 80))));
    }

    @Test
    void sliceBeforeServiceIsJoinedWhenTheServiceArrives() {
        assertThat(catalog.putSlice(slice("web-1", "web", HTTP_8080, ready("198.18.0.1")))).isEmpty();
        assertThat(catalog.putService(web())).containsExactly(new ServiceChange(WEB,
                normalized("web", IP, 0, sp("http", TCP, 80, active("198.18.0.1", 8080)))));
    }

    @Test
    void sameValueAgainEmitsNothing() {
        catalog.putService(web());
        catalog.putSlice(slice("web-1", "web", HTTP_8080, ready("198.18.0.1")));
        assertThat(catalog.putService(web())).isEmpty();
        assertThat(catalog.putSlice(slice("web-1", "web", HTTP_8080, ready("198.18.0.1")))).isEmpty();
        // a new resourceVersion with the same content is no change either
        assertThat(catalog.putSlice(new EndpointSliceBuilder(slice("web-1", "web", HTTP_8080, ready("198.18.0.1")))
                .editMetadata().withResourceVersion("42").endMetadata().build())).isEmpty();
    }

    @Test
    void sliceChangesAreMergedAcrossSlices() {
        catalog.putService(web());
        catalog.putSlice(slice("web-1", "web", HTTP_8080, ready("198.18.0.1")));
        assertThat(catalog.putSlice(slice("web-2", "web", HTTP_8080, ready("198.18.0.2")))).containsExactly(
                new ServiceChange(WEB, normalized("web", IP, 0, sp("http", TCP, 80,
                        active("198.18.0.1", 8080), active("198.18.0.2", 8080)))));
        assertThat(catalog.removeSlice(new ServiceKey("default", "web-1"))).containsExactly(
                new ServiceChange(WEB, normalized("web", IP, 0, sp("http", TCP, 80, active("198.18.0.2", 8080)))));
    }

    @Test
    void deletesAreIdempotent() {
        catalog.putService(web());
        assertThat(catalog.removeService(WEB)).containsExactly(ServiceChange.deleted(WEB));
        assertThat(catalog.removeService(WEB)).isEmpty();
        assertThat(catalog.removeSlice(new ServiceKey("default", "web-1"))).isEmpty();
        assertThat(catalog.snapshot()).isEmpty();
    }

    @Test
    void serviceThatStopsBeingProxiedIsDeleted() {
        catalog.putService(web());
        Service headless = service("web", "None", port("http", "TCP", 80));
        assertThat(catalog.putService(headless)).containsExactly(ServiceChange.deleted(WEB));
        assertThat(catalog.putService(headless)).isEmpty();
    }

    @Test
    void sliceRelabelledToAnotherServiceMovesItsEndpoints() {
        catalog.putService(web());
        catalog.putService(service("api", "198.19.0.11", port("http", "TCP", 80)));
        catalog.putSlice(slice("shared", "web", HTTP_8080, ready("198.18.0.1")));
        List<ServiceChange> changes = catalog.putSlice(slice("shared", "api", HTTP_8080, ready("198.18.0.1")));
        assertThat(changes).containsExactlyInAnyOrder(
                new ServiceChange(WEB, normalized("web", IP, 0, sp("http", TCP, 80))),
                new ServiceChange(new ServiceKey("default", "api"),
                        normalized("api", "198.19.0.11", 0, sp("http", TCP, 80, active("198.18.0.1", 8080)))));
    }

    @Test
    void replaceAllReportsOnlyTheDifference() {
        catalog.putService(web());
        catalog.putService(service("gone", "198.19.0.12", port("http", "TCP", 80)));
        List<ServiceChange> changes = catalog.replaceAll(
                List.of(web(), service("new", "198.19.0.13", port("http", "TCP", 80))),
                List.of(slice("new-1", "new", HTTP_8080, ready("198.18.0.5"))));
        assertThat(changes).containsExactly(
                ServiceChange.deleted(new ServiceKey("default", "gone")),
                new ServiceChange(new ServiceKey("default", "new"),
                        normalized("new", "198.19.0.13", 0, sp("http", TCP, 80, active("198.18.0.5", 8080)))));
        assertThat(catalog.snapshot().keySet()).containsExactly(new ServiceKey("default", "new"), WEB);
    }

    @Test
    void aRelistNormalizesOnlyTheServicesWhoseObjectsDiffer() {
        ServiceKey api = new ServiceKey("default", "api");
        Projection.ServiceProjection webService = Projection.of(web());
        Projection.ServiceProjection apiService = Projection.of(service("api", "198.19.0.11", port("http", "TCP", 80)));
        Projection.SliceProjection web1 = Projection.of(slice("web-1", "web", HTTP_8080, ready("198.18.0.1")));
        Projection.SliceProjection shared = Projection.of(slice("shared", "web", HTTP_8080, ready("198.18.0.2")));
        catalog.putService(webService);
        catalog.putService(apiService);
        catalog.putSlice(web1);
        catalog.putSlice(shared);
        long before = catalog.normalizedCount();

        // the informers' first sync hands back the very objects the events brought: nothing to do
        assertThat(catalog.replaceAllProjected(List.of(webService, apiService), List.of(web1, shared))).isEmpty();
        assertThat(catalog.normalizedCount()).isEqualTo(before);
        // equal objects (a re-list parses them anew) are no work either
        assertThat(catalog.replaceAllProjected(List.of(Projection.of(web()), apiService),
                List.of(Projection.of(slice("web-1", "web", HTTP_8080, ready("198.18.0.1"))), shared))).isEmpty();
        assertThat(catalog.normalizedCount()).isEqualTo(before);

        // a slice that moved to another Service and one that is gone: both owners, and only they
        List<ServiceChange> changes = catalog.replaceAllProjected(List.of(webService, apiService),
                List.of(Projection.of(slice("shared", "api", HTTP_8080, ready("198.18.0.2")))));
        assertThat(changes).containsExactly(
                new ServiceChange(api, normalized("api", "198.19.0.11", 0, sp("http", TCP, 80, active("198.18.0.2", 8080)))),
                new ServiceChange(WEB, normalized("web", IP, 0, sp("http", TCP, 80))));
        assertThat(catalog.normalizedCount()).isEqualTo(before + 2);

        // a Service gone from the listing is deleted, its slices stay known for when it comes back
        assertThat(catalog.replaceAllProjected(List.of(apiService),
                List.of(Projection.of(slice("shared", "api", HTTP_8080, ready("198.18.0.2"))), web1)))
                .containsExactly(ServiceChange.deleted(WEB));
        assertThat(catalog.putService(webService)).containsExactly(new ServiceChange(WEB,
                normalized("web", IP, 0, sp("http", TCP, 80, active("198.18.0.1", 8080)))));
    }

    @Test
    void anObjectSentAgainUnchangedIsNoWork() {
        catalog.putService(web());
        catalog.putSlice(slice("web-1", "web", HTTP_8080, ready("198.18.0.1")));
        long before = catalog.normalizedCount();

        // a watch that replays what the stores hold (fabric8's mock on every new watch; an
        // informer's re-list after a 410): equal objects, parsed anew
        assertThat(catalog.putService(web())).isEmpty();
        assertThat(catalog.putSlice(slice("web-1", "web", HTTP_8080, ready("198.18.0.1")))).isEmpty();
        assertThat(catalog.normalizedCount()).isEqualTo(before);

        assertThat(catalog.putSlice(slice("web-1", "web", HTTP_8080, ready("198.18.0.1"), ready("198.18.0.2"))))
                .containsExactly(new ServiceChange(WEB, normalized("web", IP, 0,
                        sp("http", TCP, 80, active("198.18.0.1", 8080), active("198.18.0.2", 8080)))));
        assertThat(catalog.normalizedCount()).isEqualTo(before + 1);
    }

    @Test
    void snapshotIsAnImmutableCopy() {
        catalog.putService(web());
        var before = catalog.snapshot();
        catalog.removeService(WEB);
        assertThat(before).containsOnlyKeys(WEB);
        assertThat(catalog.snapshot()).isEmpty();
    }

    @Test
    void objectsFromTheCacheAreNotModified() {
        Service service = web();
        EndpointSlice slice = slice("web-1", "web", HTTP_8080, ready("198.18.0.1"));
        String serviceBefore = service.toString();
        String sliceBefore = slice.toString();
        catalog.putService(service);
        catalog.putSlice(slice);
        catalog.removeSlice(new ServiceKey("default", "web-1"));
        catalog.removeService(WEB);
        assertThat(service.toString()).isEqualTo(serviceBefore);
        assertThat(slice.toString()).isEqualTo(sliceBefore);
    }
}
