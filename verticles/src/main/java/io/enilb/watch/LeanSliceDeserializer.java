package io.enilb.watch;

import io.fabric8.kubernetes.api.model.discovery.v1.Endpoint;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointConditions;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointPort;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import java.util.Set;

/**
 * An EndpointSlice as enilb reads it ({@link Projection#of(EndpointSlice)}): its service-name
 * label, address type, each port's name, protocol and number, and of each endpoint its first
 * address (kube-proxy uses only that one), its ready / serving / terminating conditions and its
 * node. Target references, zones, hints and hostnames are skipped.
 */
final class LeanSliceDeserializer extends LeanDeserializer<EndpointSlice> {
    LeanSliceDeserializer() {
        super("an EndpointSlice", Set.of(ServiceNormalizer.SERVICE_NAME_LABEL), EndpointSlice::new,
                Unreadable.UnreadableSlice::new);
    }

    @Override
    boolean read(String name, LeanReader in, EndpointSlice slice) {
        switch (name) {
            case "addressType" -> slice.setAddressType(in.string());
            case "ports" -> slice.setPorts(in.ports(EndpointPort::new, EndpointPort::setName, EndpointPort::setProtocol,
                    EndpointPort::setPort));
            case "endpoints" -> slice.setEndpoints(in.objects(Endpoint::new, (field, endpoint) -> {
                switch (field) {
                    case "addresses" -> endpoint.setAddresses(in.firstString());
                    case "conditions" -> endpoint.setConditions(conditions(in));
                    case "nodeName" -> endpoint.setNodeName(in.string());
                    default -> {
                        return false;
                    }
                }
                return true;
            }));
            default -> {
                return false;
            }
        }
        return true;
    }

    /** KEP-1669's ready, serving and terminating. */
    private static EndpointConditions conditions(LeanReader in) {
        return in.object(EndpointConditions::new, (field, conditions) -> {
            switch (field) {
                case "ready" -> conditions.setReady(in.bool());
                case "serving" -> conditions.setServing(in.bool());
                case "terminating" -> conditions.setTerminating(in.bool());
                default -> {
                    return false;
                }
            }
            return true;
        });
    }
}
