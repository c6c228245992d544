package io.enilb.natmap;

import io.enilb.bpf.Ipv4;
import io.enilb.bpf.Structs.SvcKey;
import io.enilb.model.Backend;
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
 * The desired state: the Services as the watcher last reported them, parsed into one
 * {@link Frontend} per ClusterIP:port/protocol. Two Services claiming one frontend is a
 * conflict: the first by key wins and it is logged. Knows nothing about ids or maps.
 */
final class DesiredServices {
    private static final Logger log = LoggerFactory.getLogger(DesiredServices.class);

    /** A backend of a desired frontend. */
    record DesiredBackend(int addr, int port, boolean terminating) {
    }

    /** One desired frontend: its ClusterIP and port, backends in the model's order, affinity. */
    record Frontend(int addr, int port, List<DesiredBackend> backends, int affinityTimeout) {
    }

    private final Map<ServiceKey, NormalizedService> services = new HashMap<>();
    /** Frontend -> the Services claiming it, by key. */
    private final Map<SvcKey, TreeMap<ServiceKey, Frontend>> claims = new HashMap<>();

    /**
     * Takes the changes in (the last change of a Service wins) and returns the frontends whose
     * desired state may have changed. A Service whose addresses do not parse is logged and keeps
     * its previous state.
     */
    Set<SvcKey> apply(List<ServiceChange> changes) {
        Set<SvcKey> dirty = new LinkedHashSet<>();
        for (ServiceChange change : changes) {
            ServiceKey key = change.key();
            NormalizedService next = change.service();
            Map<SvcKey, Frontend> nextFrontends = Map.of();
            if (next != null) {
                try {
                    nextFrontends = frontends(next);
                } catch (IllegalArgumentException e) {
                    log.warn("service {}: {}; keeping what is programmed", key, e.getMessage());
                    continue;
                }
            }
            NormalizedService previous = next == null ? services.remove(key) : services.put(key, next);
            if (previous != null) {
                for (SvcKey fk : frontends(previous).keySet()) {
                    TreeMap<ServiceKey, Frontend> claimants = claims.get(fk);
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
                TreeMap<ServiceKey, Frontend> claimants = claims.computeIfAbsent(fk, x -> new TreeMap<>());
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
    Frontend get(SvcKey fk) {
        TreeMap<ServiceKey, Frontend> claimants = claims.get(fk);
        return claimants == null ? null : claimants.firstEntry().getValue();
    }

    Set<SvcKey> frontends() {
        return claims.keySet();
    }

    /** The frontends of a Service; throws IllegalArgumentException for an address that does not parse. */
    private static Map<SvcKey, Frontend> frontends(NormalizedService s) {
        int vip = Ipv4.parse(s.clusterIp());
        Map<SvcKey, Frontend> frontends = new LinkedHashMap<>();
        for (ServicePort port : s.ports()) {
            List<DesiredBackend> backends = new ArrayList<>();
            Set<Long> seen = new HashSet<>();
            for (Backend b : port.backends()) {
                int addr = Ipv4.parse(b.ip());
                if (seen.add(addrPort(addr, b.port()))) {
                    backends.add(new DesiredBackend(addr, b.port(), b.state() == Backend.State.TERMINATING));
                }
            }
            frontends.putIfAbsent(new SvcKey(vip, port.port(), port.protocol().number),
                    new Frontend(vip, port.port(), List.copyOf(backends), s.affinityTimeoutSeconds()));
        }
        return frontends;
    }

    private static long addrPort(int addr, int port) {
        return (Integer.toUnsignedLong(addr) << 16) | port;
    }
}
