package io.enilb.model;

import java.util.List;
import java.util.Objects;

/**
 * One port of a Service (a frontend: ClusterIP, port, protocol) with its backends.
 *
 * @param name     the Service port's name ("" when unnamed)
 * @param protocol TCP or UDP
 * @param port     the Service port clients connect to
 * @param backends backends in a stable order (sorted by ip, then port); no duplicates
 */
public record ServicePort(String name, Protocol protocol, int port, List<Backend> backends) {
    public ServicePort {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(protocol, "protocol");
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("service port out of range: " + port);
        }
        backends = List.copyOf(backends);
    }
}
