package io.enilb.watch;

import io.enilb.model.Backend;
import io.enilb.model.NormalizedService;
import io.enilb.model.Protocol;
import io.enilb.model.ServiceKey;
import io.enilb.model.ServicePort;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.ServicePortBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.Endpoint;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointPort;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointPortBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import java.util.Arrays;
import java.util.List;
import java.util.function.UnaryOperator;

/** Small builders for Services, EndpointSlices and the expected normalized values in tests. */
final class K8s {
    static final String NS = "default";

    private K8s() {
    }

    static io.fabric8.kubernetes.api.model.ServicePort port(String name, String protocol, int port) {
        return new ServicePortBuilder().withName(name).withProtocol(protocol).withPort(port).build();
    }

    /** A ClusterIP Service; {@code tweak} changes the builder further. */
    static Service service(String name, String clusterIp, UnaryOperator<ServiceBuilder> tweak,
                           io.fabric8.kubernetes.api.model.ServicePort... ports) {
        ServiceBuilder b = new ServiceBuilder()
                .withNewMetadata().withNamespace(NS).withName(name).endMetadata()
                .withNewSpec().withType("ClusterIP").withClusterIP(clusterIp).withPorts(ports).endSpec();
        return tweak.apply(b).build();
    }

    static Service service(String name, String clusterIp, io.fabric8.kubernetes.api.model.ServicePort... ports) {
        return service(name, clusterIp, UnaryOperator.identity(), ports);
    }

    static EndpointPort slicePort(String name, String protocol, int port) {
        return new EndpointPortBuilder().withName(name).withProtocol(protocol).withPort(port).build();
    }

    static Endpoint ready(String ip) {
        return endpoint(ip, true, null, null, null);
    }

    static Endpoint endpoint(String ip, Boolean ready, Boolean serving, Boolean terminating, String node) {
        return new EndpointBuilder().withAddresses(ip).withNodeName(node)
                .withNewConditions().withReady(ready).withServing(serving).withTerminating(terminating).endConditions()
                .build();
    }

    static EndpointSlice slice(String name, String service, String addressType, List<EndpointPort> ports,
                               Endpoint... endpoints) {
        return new EndpointSliceBuilder()
                .withNewMetadata().withNamespace(NS).withName(name)
                .addToLabels(ServiceNormalizer.SERVICE_NAME_LABEL, service).endMetadata()
                .withAddressType(addressType).withPorts(ports).withEndpoints(endpoints)
                .build();
    }

    static EndpointSlice slice(String name, String service, List<EndpointPort> ports, Endpoint... endpoints) {
        return slice(name, service, "IPv4", ports, endpoints);
    }

    static Backend active(String ip, int port) {
        return new Backend(ip, port, Backend.State.ACTIVE);
    }

    static Backend terminating(String ip, int port) {
        return new Backend(ip, port, Backend.State.TERMINATING);
    }

    static ServicePort sp(String name, Protocol protocol, int port, Backend... backends) {
        return new ServicePort(name, protocol, port, Arrays.asList(backends));
    }

    static NormalizedService normalized(String name, String clusterIp, int affinity, ServicePort... ports) {
        return new NormalizedService(new ServiceKey(NS, name), clusterIp, Arrays.asList(ports), affinity);
    }
}
