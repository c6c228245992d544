package io.enilb.natmap;

import io.enilb.model.Backend;
import io.enilb.model.ClusterIp;
import io.enilb.model.NormalizedService;
import io.enilb.model.ServiceChange;
import io.enilb.model.ServiceKey;
import io.enilb.model.ServicePort;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
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

    /**
     * One desired frontend as one Service claims it: its ClusterIP and port, affinity, and the
     * model's backends themselves in the model's order (one entry per address and port): the
     * normalized Service's list, not a copy, so that a backend is held once by the watcher and
     * nat-map together.
     */
    record Frontend<A>(ServiceKey service, A addr, int port, List<Backend> backends, int affinityTimeout) {
    }

    private static final Comparator<Frontend<?>> BY_SERVICE = Comparator.comparing(Frontend::service);

    private final NatFamily<K, A, ?, ?, ?> family;
    /** Service -> the frontends it claims (kept, not parsed again from the Service, when it changes). */
    private final Map<ServiceKey, List<K>> services = new HashMap<>();
    /**
     * Frontend -> the claims of the Services that want it, by Service key (the first wins): one
     * claim in a one-element list nearly always, where a sorted map per frontend took 88 bytes.
     */
    private final Map<K, List<Frontend<A>>> claims = new HashMap<>();

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
                    List<Frontend<A>> claimants = claims.get(fk);
                    if (claimants != null) {
                        List<Frontend<A>> rest = without(claimants, key);
                        if (rest.isEmpty()) {
                            claims.remove(fk);
                        } else {
                            claims.put(fk, rest);
                        }
                    }
                    dirty.add(fk);
                }
            }
            nextFrontends.forEach((fk, frontend) -> {
                List<Frontend<A>> claimants = with(claims.get(fk), frontend);
                claims.put(fk, claimants);
                if (claimants.size() > 1) {
                    log.warn("frontend {} claimed by {}; programming it for {}", fk,
                            claimants.stream().map(Frontend::service).toList(), claimants.get(0).service());
                }
                dirty.add(fk);
            });
        }
        return dirty;
    }

    /** What {@code fk} should be, or null when no Service wants it. */
    Frontend<A> get(K fk) {
        List<Frontend<A>> claimants = claims.get(fk);
        return claimants == null ? null : claimants.get(0);
    }

    /** The claims without {@code service}'s. */
    private static <A> List<Frontend<A>> without(List<Frontend<A>> claimants, ServiceKey service) {
        if (claimants.size() == 1) {
            return claimants.get(0).service().equals(service) ? List.of() : claimants;
        }
        return claimants.stream().filter(f -> !f.service().equals(service)).toList();
    }

    /** The claims with {@code claim} in place of its Service's previous one, by Service key. */
    private static <A> List<Frontend<A>> with(List<Frontend<A>> claimants, Frontend<A> claim) {
        if (claimants == null) {
            return List.of(claim);
        }
        List<Frontend<A>> all = new ArrayList<>(without(claimants, claim.service()));
        all.add(claim);
        all.sort(BY_SERVICE);
        return List.copyOf(all);
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
                frontends.putIfAbsent(family.layout().frontend().make(vip, port.port(), port.protocol().number),
                        new Frontend<>(s.key(), vip, port.port(), firstOfEachEndpoint(port.backends()),
                                s.affinityTimeoutSeconds()));
            }
        }
        return frontends;
    }

    /**
     * The backends with one entry per address and port, whatever its state (the first wins): the
     * model's list itself when it has no duplicate. The watcher's lists are sorted by address and
     * port without duplicates, which one pass that allocates nothing confirms; other lists (files
     * written by hand, tests) are checked with a set.
     */
    private static List<Backend> firstOfEachEndpoint(List<Backend> backends) {
        boolean ordered = true;
        for (int i = 1; i < backends.size() && ordered; i++) {
            ordered = Backend.ENDPOINT_ORDER.compare(backends.get(i - 1), backends.get(i)) < 0;
        }
        if (ordered) {
            return backends;
        }
        Set<Endpoint> seen = new HashSet<>();
        List<Backend> distinct = new ArrayList<>(backends.size());
        for (Backend b : backends) {
            if (seen.add(new Endpoint(b.addressHigh(), b.addressLow(), b.port()))) {
                distinct.add(b);
            }
        }
        return distinct.size() == backends.size() ? backends : List.copyOf(distinct);
    }

    /** A backend's address and port, its identity in a frontend. */
    private record Endpoint(long addressHigh, long addressLow, int port) {
    }
}
