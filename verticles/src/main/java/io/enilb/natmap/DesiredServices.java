package io.enilb.natmap;

import io.enilb.model.Backend;
import io.enilb.model.ClusterIp;
import io.enilb.model.NormalizedService;
import io.enilb.model.ServiceChange;
import io.enilb.model.ServiceKey;
import io.enilb.model.ServicePort;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The desired state of one address family: the Services as the watcher last reported them, their
 * ClusterIP of this family parsed into one {@link Frontend} per ClusterIP:port/protocol (a
 * Service without one has no frontend here). Two Services claiming one frontend is a conflict:
 * the first by key wins and it is logged. Knows nothing about ids or maps.
 *
 * @param <K> the family's frontend key
 * @param <A> the family's address
 */
final class DesiredServices<K, A> {
    private static final Logger log = LoggerFactory.getLogger(DesiredServices.class);

    /** A backend of a desired frontend. */
    record DesiredBackend<A>(A addr, int port, boolean terminating) {
    }

    /** One desired frontend: its ClusterIP and port, backends in the model's order, affinity. */
    record Frontend<A>(A addr, int port, List<DesiredBackend<A>> backends, int affinityTimeout) {
    }

    private final NatFamily<K, A, ?, ?, ?> family;
    /** Service -> the frontends it claims (kept, not parsed again from the Service, when it changes). */
    private final Map<ServiceKey, List<K>> services = new HashMap<>();
    /** Frontend -> the Services claiming it, by key. */
    private final Map<K, TreeMap<ServiceKey, Frontend<A>>> claims = new HashMap<>();

    DesiredServices(NatFamily<K, A, ?, ?, ?> family) {
        this.family = family;
    }

    /**
     * Takes the changes in (the last change of a Service wins) and returns the frontends whose
     * desired state may have changed. A Service whose addresses do not parse is logged and keeps
     * its previous state.
     */
    Set<K> apply(List<ServiceChange> changes) {
        Set<K> dirty = new LinkedHashSet<>();
        for (ServiceChange change : changes) {
            ServiceKey key = change.key();
            NormalizedService next = change.service();
            Map<K, Frontend<A>> nextFrontends = Map.of();
            if (next != null) {
                try {
                    nextFrontends = frontends(next);
                } catch (IllegalArgumentException e) {
                    log.warn("service {}: {}; keeping what is programmed", key, e.getMessage());
                    continue;
                }
            }
            List<K> previous = next == null ? services.remove(key) : services.put(key, List.copyOf(nextFrontends.keySet()));
            if (previous != null) {
                for (K fk : previous) {
                    TreeMap<ServiceKey, Frontend<A>> claimants = claims.get(fk);
                    if (claimants != null) {
                        claimants.remove(key);
                        if (claimants.isEmpty()) {
                            claims.remove(fk);
                        }
                    }
                    dirty.add(fk);
                }
            }
            nextFrontends.forEach((fk, frontend) -> {
                TreeMap<ServiceKey, Frontend<A>> claimants = claims.computeIfAbsent(fk, x -> new TreeMap<>());
                claimants.put(key, frontend);
                if (claimants.size() > 1) {
                    log.warn("frontend {} claimed by {}; programming it for {}", fk, claimants.keySet(),
                            claimants.firstKey());
                }
                dirty.add(fk);
            });
        }
        return dirty;
    }

    /** What {@code fk} should be, or null when no Service wants it. */
    Frontend<A> get(K fk) {
        TreeMap<ServiceKey, Frontend<A>> claimants = claims.get(fk);
        return claimants == null ? null : claimants.firstEntry().getValue();
    }

    Set<K> frontends() {
        return claims.keySet();
    }

    /**
     * The frontends of a Service's ClusterIP of this family (none when it has none); throws
     * IllegalArgumentException for an address that does not parse.
     */
    private Map<K, Frontend<A>> frontends(NormalizedService s) {
        Map<K, Frontend<A>> frontends = new LinkedHashMap<>();
        for (ClusterIp clusterIp : s.clusterIps()) {
            if (clusterIp.family() != family.family()) {
                continue;
            }
            A vip = family.layout().parse().apply(clusterIp.address());
            for (ServicePort port : clusterIp.ports()) {
                List<DesiredBackend<A>> backends = new ArrayList<>();
                Set<DesiredBackend<A>> seen = new HashSet<>();
                for (Backend b : port.backends()) {
                    DesiredBackend<A> backend = new DesiredBackend<>(family.layout().parse().apply(b.ip()), b.port(),
                            b.state() == Backend.State.TERMINATING);
                    // one entry per address and port, whatever its state
                    if (seen.add(new DesiredBackend<>(backend.addr(), backend.port(), false))) {
                        backends.add(backend);
                    }
                }
                frontends.putIfAbsent(family.layout().frontend().make(vip, port.port(), port.protocol().number),
                        new Frontend<>(vip, port.port(), List.copyOf(backends), s.affinityTimeoutSeconds()));
            }
        }
        return frontends;
    }
}
