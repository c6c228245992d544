package io.enilb.watch;

import io.enilb.model.NormalizedService;
import io.enilb.model.ServiceChange;
import io.enilb.model.ServiceKey;
import io.fabric8.kubernetes.api.model.Service;
import io.enilb.watch.Projection.ServiceProjection;
import io.enilb.watch.Projection.SliceProjection;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeSet;
import org.pcollections.TreePMap;

/**
 * The latest Services and EndpointSlices of a source, by namespace/name, as {@link Projection}s,
 * and the normalized value of every proxied Service. Every mutation recomputes the Services it
 * touches, and only those: an event costs work proportional to its Service, not to the catalog.
 * It returns the changes: one per Service whose normalized value changed, a delete when a
 * Service went away or is no longer proxied. Deletes of unknown objects are no-ops.
 *
 * <p>Not thread-safe: one thread (the watcher's Vert.x context) mutates it. {@link #snapshot()}
 * is a persistent (structurally shared) map, so taking it costs nothing, each change to it costs
 * O(log n), and it may be read from any thread.
 */
public final class ServiceCatalog {
    private final ServiceNormalizer normalizer;
    private final Map<ServiceKey, ServiceProjection> services = new HashMap<>();
    /** slice namespace/name → slice */
    private final Map<ServiceKey, SliceProjection> slices = new HashMap<>();
    /**
     * service namespace/name → slice namespace/names labelled with it: an immutable list replaced
     * on change (a Service has one slice or a few, and the normalizer orders them by name), where a
     * sorted set per Service took about 100 bytes more
     */
    private final Map<ServiceKey, List<ServiceKey>> slicesByService = new HashMap<>();
    private volatile TreePMap<ServiceKey, NormalizedService> snapshot = TreePMap.empty();
    /** Services normalized since creation (what a re-list costs, for tests). */
    private long normalized;

    public ServiceCatalog(ServiceNormalizer normalizer) {
        this.normalizer = Objects.requireNonNull(normalizer, "normalizer");
    }

    /** Adds or replaces a Service. */
    public List<ServiceChange> putService(Service service) {
        return putService(Projection.of(service));
    }

    /** Adds or replaces a projected Service. */
    public List<ServiceChange> putService(ServiceProjection service) {
        if (same(services.get(service.key()), service)) {
            // the informer's event of what the initial sync took from its store, or an object the
            // API server sent again unchanged (a re-list, a watch replaying): nothing to normalize
            return List.of();
        }
        services.put(service.key(), service);
        return recompute(List.of(service.key()));
    }

    /** Forgets a Service; idempotent. */
    public List<ServiceChange> removeService(ServiceKey key) {
        services.remove(key);
        return recompute(List.of(key));
    }

    /** Adds or replaces an EndpointSlice. */
    public List<ServiceChange> putSlice(EndpointSlice slice) {
        return putSlice(Projection.of(slice));
    }

    /** Adds or replaces a projected EndpointSlice. */
    public List<ServiceChange> putSlice(SliceProjection slice) {
        ServiceKey sliceKey = slice.key();
        if (same(slices.get(sliceKey), slice)) {
            return List.of();
        }
        List<ServiceKey> touched = new ArrayList<>(2);
        unlinkSlice(sliceKey).ifPresent(touched::add);
        slices.put(sliceKey, slice);
        ServiceKey owner = slice.service();
        if (owner != null) {
            link(owner, sliceKey);
            if (!touched.contains(owner)) {
                touched.add(owner);
            }
        }
        return recompute(touched);
    }

    /** Forgets an EndpointSlice by its own namespace/name; idempotent. */
    public List<ServiceChange> removeSlice(ServiceKey sliceKey) {
        Optional<ServiceKey> owner = unlinkSlice(sliceKey);
        slices.remove(sliceKey);
        return owner.map(o -> recompute(List.of(o))).orElse(List.of());
    }

    /**
     * Replaces everything with a complete listing (a file-source scan) and returns the changes
     * against what was known before.
     */
    public List<ServiceChange> replaceAll(Collection<Service> allServices, Collection<EndpointSlice> allSlices) {
        return replaceAllProjected(allServices.stream().map(Projection::of).toList(),
                allSlices.stream().map(Projection::of).toList());
    }

    /**
     * As {@link #replaceAll}, from projections (the informers' first sync, a re-list). Only the
     * Services whose projection or slices differ from what the catalog holds are normalized again:
     * a re-list hands back mostly the instances the catalog holds, or equal ones.
     */
    public List<ServiceChange> replaceAllProjected(Collection<ServiceProjection> allServices,
                                                   Collection<SliceProjection> allSlices) {
        Set<ServiceKey> touched = new TreeSet<>();
        Map<ServiceKey, ServiceProjection> nextServices = new HashMap<>(capacity(allServices.size()));
        for (ServiceProjection service : allServices) {
            nextServices.put(service.key(), service);
            if (!same(services.get(service.key()), service)) {
                touched.add(service.key());
            }
        }
        services.keySet().stream().filter(k -> !nextServices.containsKey(k)).forEach(touched::add);
        Map<ServiceKey, SliceProjection> nextSlices = new HashMap<>(capacity(allSlices.size()));
        for (SliceProjection slice : allSlices) {
            nextSlices.put(slice.key(), slice);
            SliceProjection before = slices.get(slice.key());
            if (!same(before, slice)) {
                touchOwners(touched, before, slice);
            }
        }
        slices.forEach((k, before) -> {
            if (!nextSlices.containsKey(k)) {
                touchOwners(touched, before, null);
            }
        });
        services.clear();
        services.putAll(nextServices);
        slices.clear();
        slices.putAll(nextSlices);
        slicesByService.clear();
        for (SliceProjection slice : allSlices) {
            if (slice.service() != null) {
                link(slice.service(), slice.key());
            }
        }
        return recompute(touched);
    }

    private static boolean same(Object before, Object now) {
        return before == now || (before != null && before.equals(now));
    }

    private static void touchOwners(Set<ServiceKey> touched, SliceProjection before, SliceProjection now) {
        if (before != null && before.service() != null) {
            touched.add(before.service());
        }
        if (now != null && now.service() != null) {
            touched.add(now.service());
        }
    }

    private static int capacity(int entries) {
        return (int) Math.min(Integer.MAX_VALUE, entries * 4L / 3 + 1);
    }

    /** Recomputes every Service (for example after the node name or normalization rules changed). */
    public List<ServiceChange> recomputeAll() {
        Set<ServiceKey> touched = new TreeSet<>(snapshot.keySet());
        touched.addAll(services.keySet());
        return recompute(touched);
    }

    /** The normalized value of every proxied Service, sorted by key; immutable, safe from any thread. */
    public SortedMap<ServiceKey, NormalizedService> snapshot() {
        return snapshot;
    }

    public Optional<NormalizedService> get(ServiceKey key) {
        return Optional.ofNullable(snapshot.get(key));
    }

    /** How many times a Service was normalized since this catalog was made. */
    long normalizedCount() {
        return normalized;
    }

    private Optional<ServiceKey> unlinkSlice(ServiceKey sliceKey) {
        SliceProjection previous = slices.get(sliceKey);
        if (previous == null || previous.service() == null) {
            return Optional.empty();
        }
        ServiceKey owner = previous.service();
        List<ServiceKey> linked = slicesByService.get(owner);
        if (linked != null) {
            List<ServiceKey> rest = linked.stream().filter(k -> !k.equals(sliceKey)).toList();
            if (rest.isEmpty()) {
                slicesByService.remove(owner);
            } else {
                slicesByService.put(owner, rest);
            }
        }
        return Optional.of(owner);
    }

    private void link(ServiceKey owner, ServiceKey sliceKey) {
        List<ServiceKey> linked = slicesByService.get(owner);
        if (linked == null) {
            slicesByService.put(owner, List.of(sliceKey));
        } else if (!linked.contains(sliceKey)) {
            List<ServiceKey> more = new ArrayList<>(linked);
            more.add(sliceKey);
            slicesByService.put(owner, List.copyOf(more));
        }
    }

    private List<ServiceChange> recompute(Collection<ServiceKey> keys) {
        List<ServiceChange> changes = new ArrayList<>();
        TreePMap<ServiceKey, NormalizedService> next = snapshot;
        for (ServiceKey key : keys) {
            ServiceProjection service = services.get(key);
            Optional<NormalizedService> now = Optional.empty();
            if (service != null) {
                now = normalizer.normalize(service, slicesOf(key));
                normalized++;
            }
            NormalizedService before = next.get(key);
            if (now.isPresent()) {
                if (!now.get().equals(before)) {
                    next = next.plus(key, now.get());
                    changes.add(new ServiceChange(key, now.get()));
                }
            } else if (before != null) {
                next = next.minus(key);
                changes.add(ServiceChange.deleted(key));
            }
        }
        snapshot = next;
        return changes;
    }

    private List<SliceProjection> slicesOf(ServiceKey key) {
        List<ServiceKey> sliceKeys = slicesByService.get(key);
        if (sliceKeys == null) {
            return List.of();
        }
        List<SliceProjection> result = new ArrayList<>(sliceKeys.size());
        for (ServiceKey sliceKey : sliceKeys) {
            result.add(slices.get(sliceKey));
        }
        return result;
    }
}
