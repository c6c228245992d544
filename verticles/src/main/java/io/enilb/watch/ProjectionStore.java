package io.enilb.watch;

import io.enilb.watch.Projection.Projected;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.client.informers.cache.Cache;
import io.fabric8.kubernetes.client.informers.cache.ItemStore;
import java.util.Map;
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
 * <p>An {@link Unreadable} object keeps the projection of its last readable version, or none when
 * it never had one; it is stored all the same, so that the informer still reports its deletion.
 */
final class ProjectionStore<T extends HasMetadata, P extends Projected> implements ItemStore<T> {
    private final Map<String, Stored<P>> items = new ConcurrentHashMap<>();
    private final Function<T, P> project;
    private final Function<ObjectMeta, T> skeleton;

    /** What is kept of an object; {@code projection} is null for an object never readable. */
    private record Stored<P extends Projected>(P projection, String namespace, String name) {
        String resourceVersion() {
            return projection == null ? null : projection.resourceVersion();
        }
    }

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
        Stored<P> s = items.get(key);
        return s == null ? null : s.projection;
    }

    /** Every stored projection. */
    Stream<P> projections() {
        return items.values().stream().map(Stored::projection).filter(Objects::nonNull);
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
        ObjectMeta meta = object.getMetadata();
        Stored<P> before = items.get(key);
        P projection;
        if (Unreadable.problemOf(object) != null) {
            projection = before == null ? null : before.projection;
        } else if (before != null && before.projection != null
                && Objects.equals(before.projection.resourceVersion(), meta.getResourceVersion())) {
            projection = before.projection;
        } else {
            projection = project.apply(object);
        }
        return restore(items.put(key, new Stored<>(projection, meta.getNamespace(), meta.getName())));
    }

    @Override
    public T remove(String key) {
        return restore(items.remove(key));
    }

    @Override
    public Stream<String> keySet() {
        return items.keySet().stream();
    }

    @Override
    public Stream<T> values() {
        return items.values().stream().map(this::restore);
    }

    @Override
    public int size() {
        return items.size();
    }

    @Override
    public T get(String key) {
        return restore(items.get(key));
    }

    @Override
    public boolean isFullState() {
        return false;
    }

    private T restore(Stored<P> stored) {
        if (stored == null) {
            return null;
        }
        // setters, not ObjectMetaBuilder: the informer asks for a skeleton on every put, and the
        // builder copies a list or map per field it knows (an eighth of the informer threads' garbage in a
        // sync of 10 000 Services, with the Service and EndpointSlice builders of the skeletons)
        ObjectMeta meta = new ObjectMeta();
        meta.setNamespace(stored.namespace);
        meta.setName(stored.name);
        meta.setResourceVersion(stored.resourceVersion());
        return skeleton.apply(meta);
    }
}
