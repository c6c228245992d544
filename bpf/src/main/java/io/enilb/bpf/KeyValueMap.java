package io.enilb.bpf;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.BiConsumer;
import java.util.function.Predicate;

/**
 * A map with typed keys and values: a pinned kernel map ({@link BpfMap}) or, for logic that is
 * tested without root, an in-memory one ({@link InMemoryMap}) that behaves the same way,
 * full-map errors included.
 */
public interface KeyValueMap<K, V> {
    /** The map's name, e.g. {@code enilb_svc4_v1}. */
    String name();

    int maxEntries();

    Optional<V> get(K key);

    /** Inserts or replaces; throws {@link BpfException} with E2BIG when the map is full. */
    void put(K key, V value);

    /** Returns false when the key was absent. */
    boolean delete(K key);

    /**
     * Inserts or replaces every entry in order, in as few kernel calls as possible. On failure
     * the exception's {@link BatchException#applied()} tells how many entries were written.
     */
    void putAll(List<Map.Entry<K, V>> entries);

    /** Deletes every key; absent keys are skipped. Returns how many were deleted. */
    int deleteAll(List<K> keys);

    /** A snapshot of every entry. */
    Map<K, V> entries();

    /**
     * Hands every entry to {@code action}, {@code batchSize} at a time from the kernel (a kernel
     * map walked while it changes may or may not show an entry written or deleted meanwhile).
     *
     * @return how many entries were handed over
     */
    long forEachBatch(int batchSize, BiConsumer<K, V> action);

    /** The number of entries (the kernel keeps no count user space can read: this walks the map). */
    default long count() {
        return forEachBatch(4096, (k, v) -> { });
    }

    /**
     * Deletes each of {@code candidates} whose value, read again right before its delete, still
     * satisfies {@code condition}; absent keys are skipped. Returns how many were deleted.
     */
    int deleteIf(List<K> candidates, Predicate<V> condition);

    /** A batch that stopped part way. */
    class BatchException extends BpfException {
        private final int applied;

        public BatchException(String operation, int errno, int applied, int requested) {
            super(operation, errno, applied + " of " + requested + " entries written");
            this.applied = applied;
        }

        public int applied() {
            return applied;
        }
    }
}
