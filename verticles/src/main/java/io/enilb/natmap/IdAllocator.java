package io.enilb.natmap;

import it.unimi.dsi.fastutil.objects.Object2IntOpenHashMap;
import java.util.OptionalInt;

/**
 * Stable ids for keys, one id per key: an {@link IdPool} (rolling ids in {@code [min, max]},
 * adopted at restore, reserved until reconciled) whose owners are the keys, and the key's id
 * looked up by key. The service ids are these: one per frontend.
 */
public final class IdAllocator<K> {
    private final IdPool<K> pool;
    private final Object2IntOpenHashMap<K> ids = new Object2IntOpenHashMap<>();

    /** @param min the lowest id (at least 0); @param max the highest id (at most 2^32-1) */
    public IdAllocator(long min, long max) {
        this.pool = new IdPool<>(min, max);
    }

    public OptionalInt idOf(K key) {
        return ids.containsKey(key) ? OptionalInt.of(ids.getInt(key)) : OptionalInt.empty();
    }

    /** The owner of an id, or null when it is free or only reserved. */
    public K ownerOf(int id) {
        return pool.ownerOf(id);
    }

    /** The key's id, or the next free one after the last handed out; empty when every id is taken. */
    public OptionalInt acquire(K key) {
        if (ids.containsKey(key)) {
            return OptionalInt.of(ids.getInt(key));
        }
        OptionalInt id = pool.acquire(key);
        id.ifPresent(i -> ids.put(key, i));
        return id;
    }

    /**
     * Gives {@code key} the id it already has in the maps (free or reserved). Returns false when
     * the id is out of range or owned by another key, or the key already has another id.
     */
    public boolean adopt(K key, int id) {
        if (ids.containsKey(key)) {
            return ids.getInt(key) == id;
        }
        if (!pool.adopt(key, id)) {
            return false;
        }
        ids.put(key, id);
        return true;
    }

    /** Marks an id as in use by an entry without a known owner; false when out of range or in use. */
    public boolean reserve(int id) {
        return pool.reserve(id);
    }

    public boolean isReserved(int id) {
        return pool.isReserved(id);
    }

    /** Frees every reserved id that was not adopted; the rolling position stays where it is. */
    public void releaseReserved() {
        pool.releaseReserved();
    }

    /** Frees the key's id; a no-op for an unknown key. */
    public void release(K key) {
        if (ids.containsKey(key)) {
            pool.release(ids.removeInt(key));
        }
    }

    /** Ids owned by keys (reserved ones excluded). */
    public int size() {
        return ids.size();
    }

    /** Ids looked at by {@link #acquire} since this allocator was made (taken or skipped as in use). */
    long probes() {
        return pool.probes();
    }
}
