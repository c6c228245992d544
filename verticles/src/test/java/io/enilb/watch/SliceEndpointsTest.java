package io.enilb.watch;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.enilb.model.IpFamily;
import io.enilb.watch.Projection.EndpointProjection;
import io.enilb.watch.Projection.Endpoints;
import io.enilb.watch.Projection.SliceProjection;
import io.enilb.watch.Projection.Use;
import java.util.List;
import org.junit.jupiter.api.Test;

/** A slice's endpoints as the projection packs them: what the normalizer reads, equal by value. */
class SliceEndpointsTest {
    @Test
    void endpointsKeepTheirAddressNodeAndUseInTheSlicesOrder() {
        SliceProjection slice = Projection.of(K8s.slice("web-abc", "web", "IPv6", List.of(K8s.slicePort("", "TCP", 80)),
                K8s.endpoint("2001:DB8:18::2", true, null, null, "node-a"),
                K8s.endpoint("2001:db8:18::1", false, true, true, null),
                K8s.endpoint("2001:db8:18::3", false, false, false, "node-b"),
                K8s.endpoint("web.example", true, null, null, "node-a"),
                K8s.endpoint("2001:db8:18::4", false, false, true, "node-b")));

        Endpoints endpoints = slice.endpoints();
        assertThat(endpoints.size()).as("not ready and not terminating, and a name: not usable").isEqualTo(3);
        assertThat(endpoints.get(0)).isEqualTo(new EndpointProjection("2001:db8:18::2", "node-a", Use.READY));
        assertThat(endpoints.get(1)).isEqualTo(new EndpointProjection("2001:db8:18::1", null, Use.SERVING_TERMINATING));
        assertThat(endpoints.get(2)).isEqualTo(new EndpointProjection("2001:db8:18::4", "node-b", Use.TERMINATING));
        assertThat(endpoints.family(0)).isEqualTo(IpFamily.IPV6);
        assertThat(endpoints.nodeName(0)).as("node names are shared instances").isSameAs(endpoints.nodeName(0).intern());
    }

    @Test
    void projectionsOfTheSameSliceAreEqualAndAnyEndpointChangeMakesThemDiffer() {
        SliceProjection a = Projection.of(K8s.slice("web-abc", "web", List.of(K8s.slicePort("", "TCP", 80)),
                K8s.ready("198.18.0.1"), K8s.endpoint("198.18.0.2", false, true, true, "node-a")));
        SliceProjection same = Projection.of(K8s.slice("web-abc", "web", List.of(K8s.slicePort("", "TCP", 80)),
                K8s.ready("198.18.0.1"), K8s.endpoint("198.18.0.2", false, true, true, "node-a")));
        SliceProjection otherUse = Projection.of(K8s.slice("web-abc", "web", List.of(K8s.slicePort("", "TCP", 80)),
                K8s.ready("198.18.0.1"), K8s.endpoint("198.18.0.2", false, false, true, "node-a")));
        SliceProjection otherNode = Projection.of(K8s.slice("web-abc", "web", List.of(K8s.slicePort("", "TCP", 80)),
                K8s.ready("198.18.0.1"), K8s.endpoint("198.18.0.2", false, true, true, "node-b")));
        SliceProjection otherAddress = Projection.of(K8s.slice("web-abc", "web", List.of(K8s.slicePort("", "TCP", 80)),
                K8s.ready("198.18.0.1"), K8s.endpoint("198.18.0.3", false, true, true, "node-a")));

        assertThat(same).isEqualTo(a).hasSameHashCodeAs(a);
        assertThat(otherUse).isNotEqualTo(a);
        assertThat(otherNode).isNotEqualTo(a);
        assertThat(otherAddress).isNotEqualTo(a);
        assertThat(a.endpoints()).hasToString("[EndpointProjection[ip=198.18.0.1, nodeName=null, use=READY],"
                + " EndpointProjection[ip=198.18.0.2, nodeName=node-a, use=SERVING_TERMINATING]]");
    }

    @Test
    void endpointsGivenOneByOneAreTheSameAsProjected() {
        SliceProjection projected = Projection.of(K8s.slice("web-abc", "web", List.of(K8s.slicePort("", "TCP", 80)),
                K8s.ready("198.18.0.1")));
        SliceProjection given = new SliceProjection(projected.key(), projected.resourceVersion(), projected.service(),
                "IPv4", projected.ports(), List.of(new EndpointProjection("198.18.0.1", null, Use.READY)));
        assertThat(given).isEqualTo(projected);
        assertThatThrownBy(() -> Endpoints.of(List.of(new EndpointProjection("web.example", null, Use.READY))))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("web.example");
    }
}
