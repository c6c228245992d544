package io.enilb.bus;

import java.util.Objects;

/**
 * A component's heartbeat: published on {@link Addresses#LIVENESS} every second from the
 * component's own event loop, so a heartbeat that stops means that event loop is stuck, and a
 * heartbeat that says {@code stuck} means one of its workers or native calls is.
 *
 * @param component "nat-map", "attach" ...
 * @param stuck     what has made no progress for too long (operation and for how long), or empty
 */
public record Liveness(String component, String stuck) {
    public Liveness {
        Objects.requireNonNull(component, "component");
        stuck = stuck == null ? "" : stuck;
    }

    public static Liveness alive(String component) {
        return new Liveness(component, "");
    }

    public boolean alive() {
        return stuck.isEmpty();
    }
}
