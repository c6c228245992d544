package io.enilb.bus;

/**
 * One component's readiness, as health aggregates it.
 *
 * @param component "source", "datapath", "cni-socket", "nat-map" ...
 * @param ready     whether that component is ready
 * @param reason    why not (empty when ready)
 */
public record Readiness(String component, boolean ready, String reason) {
    public static Readiness ok(String component) {
        return new Readiness(component, true, "");
    }

    public static Readiness notReady(String component, String reason) {
        return new Readiness(component, false, reason);
    }
}
