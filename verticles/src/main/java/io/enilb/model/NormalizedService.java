package io.enilb.model;

import java.util.List;
import java.util.Objects;

/**
 * A Service as enilb programs it: what the watcher publishes after merging the Service with
 * its EndpointSlices and applying kube-proxy's rules. Immutable.
 *
 * @param key                     namespace/name
 * @param clusterIp               IPv4 ClusterIP, dotted quad
 * @param ports                   one entry per TCP/UDP Service port
 * @param affinityTimeoutSeconds  ClientIP session affinity timeout; 0 means no affinity
 */
public record NormalizedService(ServiceKey key, String clusterIp, List<ServicePort> ports,
                                int affinityTimeoutSeconds) {
    public NormalizedService {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(clusterIp, "clusterIp");
        ports = List.copyOf(ports);
        if (affinityTimeoutSeconds < 0) {
            throw new IllegalArgumentException("negative affinity timeout");
        }
    }
}
