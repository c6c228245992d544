package io.enilb.watch;

import io.enilb.model.NormalizedService;
import io.enilb.model.ServiceChange;
import io.enilb.model.ServiceKey;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * The latest Services and EndpointSlices of a source, by namespace/name, and the normalized
 * value of every proxied Service. Every mutation recomputes the Services it touches and returns
 * the changes: one per Service whose normalized value changed, a delete when a Service went
 * away or is no longer proxied. Deletes of unknown objects are no-ops.
 *
 * <p>Not thread-safe: one thread (the watcher's Vert.x context) mutates it. {@link #snapshot()}
 * may be read from any thread. The fabric8 objects it holds are never modified.
 */
public final class ServiceCatalog {
    private final ServiceNormalizer normalizer;
    private final Map<ServiceKey, Service> services = new HashMap<>();
    /** slice namespace/name → slice */
    private final Map<ServiceKey, EndpointSlice> slices = new HashMap<>();
    /** service namespace/name → slice namespace/names labelled with it */
    private final Map<ServiceKey, Set<ServiceKey>> slicesByService = new HashMap<>();
    private final Map<ServiceKey, NormalizedService> normalized = new HashMap<>();
    private volatile SortedMap<ServiceKey, NormalizedService> snapshot = Collections.emptySortedMap();

    public ServiceCatalog(ServiceNormalizer normalizer) {
        this.normalizer = Objects.requireNonNull(normalizer, "normalizer");
    }

    /** Adds or replaces a Service. */
    public List<ServiceChange> putService(Service service) {
        ServiceKey key = ServiceNormalizer.keyOf(service);
        services.put(key, service);
        return recompute(List.of(key));
    }

    /** Forgets a Service; idempotent. */
    public List<ServiceChange> removeService(ServiceKey key) {
        services.remove(key);
        return recompute(List.of(key));
    }

    /** Adds or replaces an EndpointSlice. */
    public List<ServiceChange> putSlice(EndpointSlice slice) {
        ServiceKey sliceKey = ServiceNormalizer.keyOf(slice);
        List<ServiceKey> touched = new ArrayList<>(2);
        unlinkSlice(sliceKey).ifPresent(touched::add);
        slices.put(sliceKey, slice);
        ServiceNormalizer.serviceOf(slice).ifPresent(owner -> {
            slicesByService.computeIfAbsent(owner, k -> new TreeSet<>()).add(sliceKey);
            if (!touched.contains(owner)) {
                touched.add(owner);
            }
        });
        return recompute(touched);
    }

    /** Forgets an EndpointSlice by its own namespace/name; idempotent. */
    public List<ServiceChange> removeSlice(ServiceKey sliceKey) {
        Optional<ServiceKey> owner = unlinkSlice(sliceKey);
        slices.remove(sliceKey);
        return owner.map(o -> recompute(List.of(o))).orElse(List.of());
    }

    /**
     * Replaces everything with a complete listing (a file-source scan, an informer re-list) and
     * returns the changes against what was known before.
     */
    public List<ServiceChange> replaceAll(Collection<Service> allServices, Collection<EndpointSlice> allSlices) {
        Set<ServiceKey> touched = new TreeSet<>(normalized.keySet());
        services.clear();
        slices.clear();
        slicesByService.clear();
        for (Service service : allServices) {
            ServiceKey key = ServiceNormalizer.keyOf(service);
            services.put(key, service);
            touched.add(key);
        }
        for (EndpointSlice slice : allSlices) {
            ServiceKey sliceKey = ServiceNormalizer.keyOf(slice);
            slices.put(sliceKey, slice);
            ServiceNormalizer.serviceOf(slice).ifPresent(
                    owner -> slicesByService.computeIfAbsent(owner, k -> new TreeSet<>()).add(sliceKey));
        }
        return recompute(touched);
    }

    /** Recomputes every Service (for example after the node name or normalization rules changed). */
    public List<ServiceChange> recomputeAll() {
        Set<ServiceKey> touched = new TreeSet<>(normalized.keySet());
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

    /** Number of Services and EndpointSlices held (proxied or not). */
    public int objectCount() {
        return services.size() + slices.size();
    }

    private Optional<ServiceKey> unlinkSlice(ServiceKey sliceKey) {
        EndpointSlice previous = slices.get(sliceKey);
        if (previous == null) {
            return Optional.empty();
        }
        Optional<ServiceKey> owner = ServiceNormalizer.serviceOf(previous);
        owner.ifPresent(o -> {
            Set<ServiceKey> set = slicesByService.get(o);
            if (set != null) {
                set.remove(sliceKey);
                if (set.isEmpty()) {
                    slicesByService.remove(o);
                }
            }
        });
        return owner;
    }

    private List<ServiceChange> recompute(Collection<ServiceKey> keys) {
        List<ServiceChange> changes = new ArrayList<>();
        for (ServiceKey key : keys) {
            Service service = services.get(key);
            Optional<NormalizedService> now = service == null
                    ? Optional.empty()
                    : normalizer.normalize(service, slicesOf(key));
            NormalizedService before = normalized.get(key);
            if (now.isPresent()) {
                if (!now.get().equals(before)) {
                    normalized.put(key, now.get());
                    changes.add(new ServiceChange(key, now.get()));
                }
            } else if (before != null) {
                normalized.remove(key);
                changes.add(ServiceChange.deleted(key));
            }
        }
        if (!changes.isEmpty()) {
            snapshot = Collections.unmodifiableSortedMap(new TreeMap<>(normalized));
        }
        return changes;
    }

    private List<EndpointSlice> slicesOf(ServiceKey key) {
        Set<ServiceKey> sliceKeys = slicesByService.get(key);
        if (sliceKeys == null) {
            return List.of();
        }
        List<EndpointSlice> result = new ArrayList<>(sliceKeys.size());
        for (ServiceKey sliceKey : sliceKeys) {
            result.add(slices.get(sliceKey));
        }
        return result;
    }
}
