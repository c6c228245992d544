package io.enilb.watch;

import static io.enilb.watch.K8s.ready;
import static io.enilb.watch.K8s.service;
import static io.enilb.watch.K8s.slice;
import static io.enilb.watch.K8s.slicePort;
import static io.enilb.watch.K8s.port;
import static org.assertj.core.api.Assertions.assertThat;

import io.enilb.watch.Projection.ServiceProjection;
import io.enilb.watch.Projection.SliceProjection;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The informers' store keeps projections and hands the informer back identities only. */
class ProjectionStoreTest {

    @Test
    void keepsTheProjectionAndGivesBackASkeletonWithIdentityAndVersion() {
        ProjectionStore<Service, ServiceProjection> store =
                new ProjectionStore<>(Projection::of, meta -> new ServiceBuilder().withMetadata(meta).build());
        Service web = new ServiceBuilder(service("web", "198.19.0.10", port("http", "TCP", 80)))
                .editMetadata().withResourceVersion("7").addToAnnotations("big", "x".repeat(1000)).endMetadata().build();

        assertThat(store.put(store.getKey(web), web)).isNull();

        Service back = store.get("default/web");
        assertThat(back.getMetadata().getName()).isEqualTo("web");
        assertThat(back.getMetadata().getNamespace()).isEqualTo("default");
        assertThat(back.getMetadata().getResourceVersion()).isEqualTo("7");
        assertThat(back.getSpec()).isNull();
        assertThat(back.getMetadata().getAnnotations()).isEmpty();
        assertThat(store.projection("default/web")).isEqualTo(Projection.of(web));
        assertThat(store.isFullState()).isFalse();
        assertThat(store.keySet()).containsExactly("default/web");

        Service removed = store.remove("default/web");
        assertThat(removed.getMetadata().getResourceVersion()).isEqualTo("7");
        assertThat(store.size()).isZero();
    }

    @Test
    void aHandlerSharesTheStoredProjectionOfTheSameVersionOnly() {
        ProjectionStore<EndpointSlice, SliceProjection> store =
                new ProjectionStore<>(Projection::of, meta -> new EndpointSliceBuilder().withMetadata(meta).build());
        EndpointSlice v1 = new EndpointSliceBuilder(slice("web-1", "web", "IPv4",
                List.of(slicePort("http", "TCP", 8080)), ready("198.18.0.5")))
                .editMetadata().withResourceVersion("1").endMetadata().build();
        store.put(store.getKey(v1), v1);
        assertThat(store.projectionOf(v1)).isSameAs(store.projection("default/web-1"));

        // the same version again (a watch replaying the list) keeps the stored instance
        SliceProjection first = store.projection("default/web-1");
        store.put(store.getKey(v1), new EndpointSliceBuilder(v1).build());
        assertThat(store.projection("default/web-1")).isSameAs(first);

        EndpointSlice v2 = new EndpointSliceBuilder(v1).editMetadata().withResourceVersion("2").endMetadata().build();
        assertThat(store.projectionOf(v2)).isNotSameAs(store.projection("default/web-1"))
                .isEqualTo(Projection.of(v2));
    }

    @Test
    void anUnreadableObjectKeepsItsLastReadableProjectionAndIsStoredAnyway() {
        ProjectionStore<Service, ServiceProjection> store =
                new ProjectionStore<>(Projection::of, meta -> new ServiceBuilder().withMetadata(meta).build());
        Service v1 = new ServiceBuilder(service("web", "198.19.0.10", port("http", "TCP", 80)))
                .editMetadata().withResourceVersion("1").endMetadata().build();
        store.put(store.getKey(v1), v1);
        ServiceProjection readable = store.projection("default/web");

        Service v2 = new Unreadable.UnreadableService(new io.fabric8.kubernetes.api.model.ObjectMetaBuilder()
                .withNamespace("default").withName("web").withResourceVersion("2").build(), "/spec: expected an object");
        store.put(store.getKey(v2), v2);
        assertThat(store.projection("default/web")).isSameAs(readable);
        assertThat(store.projections()).containsExactly(readable);

        // never readable: stored (the informer reports its deletion) without a projection
        Service other = new Unreadable.UnreadableService(new io.fabric8.kubernetes.api.model.ObjectMetaBuilder()
                .withNamespace("default").withName("other").withResourceVersion("3").build(), "/spec: expected an object");
        assertThat(store.put(store.getKey(other), other)).isNull();
        assertThat(store.keySet()).containsExactlyInAnyOrder("default/web", "default/other");
        assertThat(store.projection("default/other")).isNull();
        assertThat(store.projections()).containsExactly(readable);
        assertThat(store.get("default/other").getMetadata().getName()).isEqualTo("other");
        assertThat(store.remove("default/other")).isNotNull();
    }
}
