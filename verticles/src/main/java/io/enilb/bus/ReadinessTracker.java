package io.enilb.bus;

import java.util.Collection;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The daemon's readiness from the components' {@link Readiness} reports: ready only when every
 * required component reported ready and no component reported otherwise. Thread-safe.
 */
public final class ReadinessTracker {
    /** What must be ready before the daemon is: API state synced, datapath loaded, CNI socket listening, maps written. */
    public static final Set<String> REQUIRED = Set.of("source", "datapath", "cni-socket", "nat-map");

    private final Set<String> required;
    private final Map<String, Readiness> latest = new ConcurrentHashMap<>();

    public ReadinessTracker(Collection<String> required) {
        this.required = Set.copyOf(required);
    }

    public void update(Readiness r) {
        latest.put(r.component(), r);
    }

    public boolean ready() {
        return reasons().isEmpty();
    }

    /** Why not ready, by component; empty when ready. */
    public SortedMap<String, String> reasons() {
        SortedMap<String, String> out = new TreeMap<>();
        for (String c : required) {
            if (!latest.containsKey(c)) {
                out.put(c, "not reported yet");
            }
        }
        latest.values().stream().filter(r -> !r.ready())
                .forEach(r -> out.put(r.component(), r.reason().isEmpty() ? "not ready" : r.reason()));
        return out;
    }
}
