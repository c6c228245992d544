package io.enilb.watch;

import io.enilb.model.ServiceKey;
import io.enilb.watch.Projection.Projected;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.client.informers.cache.Cache;
import io.fabric8.kubernetes.client.informers.cache.ItemStore;
import java.util.Map;
import java.util.Set;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import java.util.stream.Stream;

/**
 * An informer's item store that keeps the {@link Projection} of each object instead of the
 * object: fabric8's own {@code ReducedStateItemStore} keeps the chosen fields as generic JSON
 * trees (a map per endpoint), which at 100 000 endpoints is nearly as heavy as the model itself.
 *
 * <p>What the informer reads back ({@link #get}, {@link #values}) is a skeleton holding only the
 * object's identity and resourceVersion: the informer needs the key and the version to tell
 * updates and deletes apart, and enilb's handlers read nothing else from stored objects (a resync
 * hands stored objects back as an update of an object to itself, which the source ignores: the
 * catalog already holds the projection). Hence {@link #isFullState()} is false.
 *
 * <p>Projections are kept by their own {@link Projected#key() key}, the instance the catalog holds
 * too, rather than by the informer's "namespace/name" text: a String and a holder per object
 * (100 000 at 50 000 Services) less. The informer's keys are parsed when it asks by key.
 *
 * <p>An {@link Unreadable} object keeps the projection of its last readable version; one never
 * readable is kept as its key alone, so that the informer still reports its deletion.
 */
final class ProjectionStore<T extends HasMetadata, P extends Projected> implements ItemStore<T> {
    private final Map<ServiceKey, P> items = new ConcurrentHashMap<>();
    /** Objects stored that were never readable: no projection, no resourceVersion to give back. */
    private final Set<ServiceKey> neverReadable = ConcurrentHashMap.newKeySet();
    private final Function<T, P> project;
    private final Function<ObjectMeta, T> skeleton;

    /**
     * @param project  the projection of an object
     * @param skeleton an object of the type holding only the given metadata
     */
    ProjectionStore(Function<T, P> project, Function<ObjectMeta, T> skeleton) {
        this.project = Objects.requireNonNull(project, "project");
        this.skeleton = Objects.requireNonNull(skeleton, "skeleton");
    }

    /** The projection stored under {@code key} (namespace/name), or null. */
    P projection(String key) {
        ServiceKey k = parse(key);
        return k == null ? null : items.get(k);
    }

    /** Every stored projection. */
    Stream<P> projections() {
        return items.values().stream();
    }

    /** The projection of {@code object}: the stored one when it is of the same version, else a fresh one. */
    P projectionOf(T object) {
        P stored = projection(getKey(object));
        if (stored != null && Objects.equals(stored.resourceVersion(), object.getMetadata().getResourceVersion())) {
            return stored;
        }
        return project.apply(object);
    }

    @Override
    public String getKey(T object) {
        return Cache.metaNamespaceKeyFunc(object);
    }

    /**
     * Stores the object's projection. An object seen again at the same version (a watch that
     * replays what the list gave) keeps the projection already stored: the catalog holds that
     * same instance, and a second one would double the state. An unreadable object keeps what
     * was stored before.
     */
    @Override
    public T put(String key, T object) {
        P before = projection(key);
        if (Unreadable.problemOf(object) != null) {
            ServiceKey k = parse(key);
            if (before != null || k == null) {
                return restore(before);
            }
            return neverReadable.add(k) ? null : skeleton(k, null);
        }
        P projection;
        if (before != null && Objects.equals(before.resourceVersion(), object.getMetadata().getResourceVersion())) {
            projection = before;
        } else {
            projection = project.apply(object);
        }
        T previous = restore(items.put(projection.key(), projection));
        return neverReadable.remove(projection.key()) ? skeleton(projection.key(), null) : previous;
    }

    @Override
    public T remove(String key) {
        ServiceKey k = parse(key);
        if (k == null) {
            return null;
        }
        return neverReadable.remove(k) ? skeleton(k, null) : restore(items.remove(k));
    }

    @Override
    public Stream<String> keySet() {
        return Stream.concat(items.keySet().stream(), neverReadable.stream()).map(ServiceKey::toString);
    }

    @Override
    public Stream<T> values() {
        return Stream.concat(items.values().stream().map(this::restore), neverReadable.stream().map(k -> skeleton(k, null)));
    }

    @Override
    public int size() {
        return items.size() + neverReadable.size();
    }

    @Override
    public T get(String key) {
        P stored = projection(key);
        if (stored != null) {
            return restore(stored);
        }
        ServiceKey k = parse(key);
        return k != null && neverReadable.contains(k) ? skeleton(k, null) : null;
    }

    @Override
    public boolean isFullState() {
        return false;
    }

    private T restore(P stored) {
        return stored == null ? null : skeleton(stored.key(), stored.resourceVersion());
    }

    private T skeleton(ServiceKey key, String resourceVersion) {
        // setters, not ObjectMetaBuilder: the informer asks for a skeleton on every put, and the
        // builder copies a list or map per field it knows (an eighth of the informer threads' garbage in a
        // sync of 10 000 Services, with the Service and EndpointSlice builders of the skeletons)
        ObjectMeta meta = new ObjectMeta();
        meta.setNamespace(key.namespace());
        meta.setName(key.name());
        meta.setResourceVersion(resourceVersion);
        return skeleton.apply(meta);
    }

    /** The key of the informer's "namespace/name", or null for text that is not one (nothing is stored under it). */
    private static ServiceKey parse(String key) {
        try {
            return ServiceKey.parse(key);
        } catch (IllegalArgumentException notNamespaced) {
            return null;
        }
    }
}
