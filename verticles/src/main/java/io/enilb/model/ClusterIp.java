package io.enilb.model;

import java.util.List;
import java.util.Objects;

/**
 * One family's frontend set of a Service: its ClusterIP of that family and the Service ports
 * with that family's endpoints only (kube-proxy runs one proxier per family).
 *
 * @param family  the address family
 * @param address the ClusterIP, canonical text ({@link IpFamily#canonical})
 * @param ports   one entry per TCP/UDP Service port
 */
public record ClusterIp(IpFamily family, String address, List<ServicePort> ports) {
    public ClusterIp {
        Objects.requireNonNull(family, "family");
        Objects.requireNonNull(address, "address");
        if (IpFamily.of(address) != family) {
            throw new IllegalArgumentException("ClusterIP " + address + " is not " + family.kubernetesName);
        }
        ports = List.copyOf(ports);
        for (ServicePort port : ports) {
            for (Backend backend : port.backends()) {
                if (backend.family() != family) {
                    throw new IllegalArgumentException("backend " + backend.ip() + " of " + address
                            + " is not " + family.kubernetesName);
                }
            }
        }
    }
}
