package io.enilb.model;

import java.util.Objects;

/**
 * One endpoint of one Service port, after Kubernetes semantics were applied.
 *
 * @param ip    IPv4 address, dotted quad
 * @param port  target port on the endpoint
 * @param state ACTIVE takes new flows; TERMINATING keeps its established flows and takes no new ones
 */
public record Backend(String ip, int port, State state) {
    public enum State { ACTIVE, TERMINATING }

    public Backend {
        Objects.requireNonNull(ip, "ip");
        Objects.requireNonNull(state, "state");
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("backend port out of range: " + port);
        }
    }

    @Override
    public String toString() {
        return ip + ":" + port + (state == State.TERMINATING ? " (terminating)" : "");
    }
}
