package io.enilb.model;

import java.util.EnumSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * A Service as enilb programs it: what the watcher publishes after merging the Service with
 * its EndpointSlices and applying kube-proxy's rules. Immutable.
 *
 * @param key                     namespace/name
 * @param clusterIps              one frontend set per family, primary family (spec.ipFamilies[0]) first;
 *                                at most one per family, never empty
 * @param affinityTimeoutSeconds  ClientIP session affinity timeout; 0 means no affinity
 */
public record NormalizedService(ServiceKey key, List<ClusterIp> clusterIps, int affinityTimeoutSeconds) {
    public NormalizedService {
        Objects.requireNonNull(key, "key");
        clusterIps = List.copyOf(clusterIps);
        if (clusterIps.isEmpty()) {
            throw new IllegalArgumentException("service " + key + " has no ClusterIP");
        }
        Set<IpFamily> families = EnumSet.noneOf(IpFamily.class);
        for (ClusterIp clusterIp : clusterIps) {
            if (!families.add(clusterIp.family())) {
                throw new IllegalArgumentException("service " + key + " has two " + clusterIp.family().kubernetesName
                        + " ClusterIPs");
            }
        }
        if (affinityTimeoutSeconds < 0) {
            throw new IllegalArgumentException("negative affinity timeout");
        }
    }

    /** A single-stack Service: one ClusterIP (either family) and its ports. */
    public NormalizedService(ServiceKey key, String clusterIp, List<ServicePort> ports, int affinityTimeoutSeconds) {
        this(key, List.of(new ClusterIp(IpFamily.of(clusterIp), clusterIp, ports)), affinityTimeoutSeconds);
    }
}
