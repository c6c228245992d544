package io.enilb.natmap;

import java.util.BitSet;
import java.util.HashMap;
import java.util.Map;
import java.util.OptionalInt;

/**
 * Stable integer ids in {@code [min, max]} for keys: a key keeps its id until released, and a
 * new key gets the lowest free id. Ids found in the maps at start are adopted ({@link #adopt})
 * so that a restart does not renumber; ids in use by entries nobody claims yet are
 * {@link #reserve reserved} until {@link #releaseReserved()}.
 */
public final class IdAllocator<K> {
    private final int min;
    private final int max;
    private final Map<K, Integer> ids = new HashMap<>();
    private final Map<Integer, K> owners = new HashMap<>();
    private final BitSet used = new BitSet();
    private final BitSet reserved = new BitSet();

    public IdAllocator(int min, int max) {
        if (min < 0 || max < min) {
            throw new IllegalArgumentException("bad id range " + min + ".." + max);
        }
        this.min = min;
        this.max = max;
    }

    public int min() {
        return min;
    }

    public int max() {
        return max;
    }

    public OptionalInt idOf(K key) {
        Integer id = ids.get(key);
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }

    /** The owner of an id, or null when it is free or only reserved. */
    public K ownerOf(int id) {
        return owners.get(id);
    }

    /** The key's id, allocating the lowest free one; empty when every id is taken. */
    public OptionalInt acquire(K key) {
        Integer existing = ids.get(key);
        if (existing != null) {
            return OptionalInt.of(existing);
        }
        int id = used.nextClearBit(min);
        if (id > max) {
            return OptionalInt.empty();
        }
        take(key, id);
        return OptionalInt.of(id);
    }

    /**
     * Gives {@code key} the id it already has in the maps (free or reserved). Returns false when
     * the id is out of range or owned by another key, or the key already has another id.
     */
    public boolean adopt(K key, int id) {
        if (id < min || id > max) {
            return false;
        }
        Integer existing = ids.get(key);
        if (existing != null) {
            return existing == id;
        }
        if (owners.containsKey(id)) {
            return false;
        }
        reserved.clear(id);
        take(key, id);
        return true;
    }

    /** Marks an id as in use by an entry without a known owner; false when out of range or owned. */
    public boolean reserve(int id) {
        if (id < min || id > max || used.get(id)) {
            return false;
        }
        used.set(id);
        reserved.set(id);
        return true;
    }

    public boolean isReserved(int id) {
        return id >= 0 && reserved.get(id);
    }

    /** Frees every reserved id that was not adopted. */
    public void releaseReserved() {
        used.andNot(reserved);
        reserved.clear();
    }

    /** Frees the key's id; a no-op for an unknown key. */
    public void release(K key) {
        Integer id = ids.remove(key);
        if (id != null) {
            owners.remove(id);
            used.clear(id);
        }
    }

    /** Ids owned by keys (reserved ones excluded). */
    public int size() {
        return ids.size();
    }

    /** A snapshot of every key and its id. */
    public Map<K, Integer> assigned() {
        return Map.copyOf(ids);
    }

    private void take(K key, int id) {
        ids.put(key, id);
        owners.put(id, key);
        used.set(id);
    }
}
