package io.enilb.bus;

import io.enilb.bpf.Ipv4;
import io.enilb.bpf.Structs.SvcKey;
import io.enilb.model.Protocol;
import java.util.Map;
import java.util.Optional;
import org.pcollections.HashTreePMap;
import org.pcollections.PMap;

/**
 * The state of every frontend nat-map handles, immutable. A new table shares everything but the
 * frontends a batch touched with the one before it, so nat-map publishes one after every batch
 * at the cost of that batch only, and readers hold theirs as long as they like.
 */
public final class FrontendTable {
    public static final FrontendTable EMPTY = new FrontendTable(HashTreePMap.empty(), 0);

    private final PMap<SvcKey, FrontendState> states;
    private final int failing;

    private FrontendTable(PMap<SvcKey, FrontendState> states, int failing) {
        this.states = states;
        this.failing = failing;
    }

    /** The state of the frontend, or empty when nat-map has not seen it. */
    public Optional<FrontendState> get(String clusterIp, int port, Protocol protocol) {
        return Optional.ofNullable(states.get(new SvcKey(Ipv4.parse(clusterIp), port, protocol.number)));
    }

    public Optional<FrontendState> get(SvcKey frontend) {
        return Optional.ofNullable(states.get(frontend));
    }

    /** Frontends known. */
    public int size() {
        return states.size();
    }

    /** Frontends whose desired state could not be written. */
    public int failing() {
        return failing;
    }

    /** This table with {@code changes} applied; a null state removes the frontend. */
    public FrontendTable with(Map<SvcKey, FrontendState> changes) {
        PMap<SvcKey, FrontendState> next = states;
        int nextFailing = failing;
        for (Map.Entry<SvcKey, FrontendState> e : changes.entrySet()) {
            FrontendState before = next.get(e.getKey());
            if (before != null && !before.error().isEmpty()) {
                nextFailing--;
            }
            FrontendState now = e.getValue();
            if (now == null) {
                next = next.minus(e.getKey());
            } else {
                next = next.plus(e.getKey(), now);
                if (!now.error().isEmpty()) {
                    nextFailing++;
                }
            }
        }
        return new FrontendTable(next, nextFailing);
    }
}
