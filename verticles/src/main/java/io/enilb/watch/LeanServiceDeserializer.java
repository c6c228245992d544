package io.enilb.watch;

import io.fabric8.kubernetes.api.model.ClientIPConfig;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.ServiceSpec;
import io.fabric8.kubernetes.api.model.SessionAffinityConfig;
import java.util.Set;

/**
 * A Service as enilb reads it ({@link Projection#of(Service)}): the labels that hand it to another
 * proxy or make it headless, and of the spec its type, ClusterIPs, IP families and policy, internal
 * traffic policy, session affinity and timeout, and each port's name, protocol and number.
 */
final class LeanServiceDeserializer extends LeanDeserializer<Service> {
    LeanServiceDeserializer() {
        super("a Service", Set.of(ServiceNormalizer.SERVICE_PROXY_NAME_LABEL, ServiceNormalizer.HEADLESS_LABEL),
                Service::new, Unreadable.UnreadableService::new);
    }

    @Override
    boolean read(String name, LeanReader in, Service service) {
        if (!name.equals("spec")) {
            return false;
        }
        service.setSpec(in.object(ServiceSpec::new, (field, spec) -> {
            switch (field) {
                case "type" -> spec.setType(in.string());
                case "clusterIP" -> spec.setClusterIP(in.string());
                case "clusterIPs" -> spec.setClusterIPs(in.strings());
                case "ipFamilies" -> spec.setIpFamilies(in.strings());
                case "ipFamilyPolicy" -> spec.setIpFamilyPolicy(in.string());
                case "internalTrafficPolicy" -> spec.setInternalTrafficPolicy(in.string());
                case "sessionAffinity" -> spec.setSessionAffinity(in.string());
                case "sessionAffinityConfig" -> spec.setSessionAffinityConfig(affinity(in));
                case "ports" -> spec.setPorts(in.ports(ServicePort::new, ServicePort::setName, ServicePort::setProtocol,
                        ServicePort::setPort));
                default -> {
                    return false;
                }
            }
            return true;
        }));
        return true;
    }

    /** sessionAffinityConfig.clientIP.timeoutSeconds. */
    private static SessionAffinityConfig affinity(LeanReader in) {
        return in.object(SessionAffinityConfig::new, (field, config) -> {
            if (!field.equals("clientIP")) {
                return false;
            }
            config.setClientIP(in.object(ClientIPConfig::new, (f, clientIp) -> {
                if (!f.equals("timeoutSeconds")) {
                    return false;
                }
                clientIp.setTimeoutSeconds(in.integer());
                return true;
            }));
            return true;
        });
    }
}
