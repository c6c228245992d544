package io.enilb.bus;

import io.enilb.bpf.Ipv4;
import io.enilb.bpf.Ipv6;
import io.enilb.bpf.Structs.SvcKey;
import io.enilb.bpf.Structs.SvcKey6;
import io.enilb.model.IpFamily;
import io.enilb.model.Protocol;
import java.util.Map;
import java.util.Optional;
import org.pcollections.HashTreePMap;
import org.pcollections.PMap;

/**
 * The state of every frontend nat-map handles, immutable. A new table shares everything but the
 * frontends a batch touched with the one before it, so nat-map publishes one after every batch
 * at the cost of that batch only, and readers hold theirs as long as they like. A frontend is
 * keyed as its family's maps key it: {@link SvcKey} (IPv4) or {@link SvcKey6} (IPv6).
 */
public final class FrontendTable {
    public static final FrontendTable EMPTY = new FrontendTable(HashTreePMap.empty(), 0);

    private final PMap<Object, FrontendState> states;
    private final int failing;

    private FrontendTable(PMap<Object, FrontendState> states, int failing) {
        this.states = states;
        this.failing = failing;
    }

    /** The state of the frontend ({@code clusterIp} in canonical text), or empty when nat-map has not seen it. */
    public Optional<FrontendState> get(String clusterIp, int port, Protocol protocol) {
        return Optional.ofNullable(state(clusterIp, port, protocol));
    }

    /**
     * The service id the frontend is programmed with, 0 when it has none (not seen, failed before
     * it got one): what the counter readers key the datapath's statistics by, once per frontend a
     * scrape.
     */
    public int serviceId(String clusterIp, int port, Protocol protocol) {
        FrontendState state = state(clusterIp, port, protocol);
        return state == null ? 0 : Math.max(0, state.svcId());
    }

    private FrontendState state(String clusterIp, int port, Protocol protocol) {
        Object key = IpFamily.of(clusterIp) == IpFamily.IPV6
                ? new SvcKey6(Ipv6.parse(clusterIp), port, protocol.number)
                : new SvcKey(Ipv4.parse(clusterIp), port, protocol.number);
        return states.get(key);
    }

    /** The state of the frontend keyed as its family's maps key it (SvcKey, SvcKey6). */
    public Optional<FrontendState> get(Object frontend) {
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
    public FrontendTable with(Map<Object, FrontendState> changes) {
        PMap<Object, FrontendState> next = states;
        int nextFailing = failing;
        for (Map.Entry<Object, FrontendState> e : changes.entrySet()) {
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
