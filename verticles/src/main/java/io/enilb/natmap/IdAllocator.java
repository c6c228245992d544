package io.enilb.natmap;

import it.unimi.dsi.fastutil.ints.Int2ObjectOpenHashMap;
import it.unimi.dsi.fastutil.ints.IntOpenHashSet;
import it.unimi.dsi.fastutil.objects.Object2IntOpenHashMap;
import java.util.OptionalInt;

/**
 * Stable ids in {@code [min, max]} (unsigned 32-bit; an id above 2^31-1 is a negative int) for
 * keys, handed out rolling, as Cilium's id allocator does: a new key gets the next free id after
 * the last one handed out, wrapping at {@code max}. A freed id therefore comes back only after
 * the whole range has been used once, so conntrack and affinity entries that still name it have
 * long expired (and the datapath validates what an id points at anyway).
 *
 * <p>Ids found in the maps at start are adopted ({@link #adopt}) so that a restart does not
 * renumber, and the rolling position continues after the highest id seen; ids in use by entries
 * nobody claims yet are {@link #reserve reserved} until {@link #releaseReserved()}.
 *
 * <p>The search for a free id starts at the rolling position, not at {@code min}, and the
 * position only moves forward: handing out n ids costs n probes plus the ids skipped, and an id
 * is skipped at most once per turn of the range (see {@link #probes()}). Primitive maps: the
 * backend allocator holds one id per backend (500 000 at 50 000 Services).
 */
public final class IdAllocator<K> {
    private final long min;
    private final long max;
    private final Object2IntOpenHashMap<K> ids = new Object2IntOpenHashMap<>();
    private final Int2ObjectOpenHashMap<K> owners = new Int2ObjectOpenHashMap<>();
    private final IntOpenHashSet reserved = new IntOpenHashSet();
    /** Where the search for the next free id starts. */
    private long next;
    /** Ids looked at by {@link #acquire} so far, taken or skipped: its cost. */
    private long probes;

    /** @param min the lowest id (at least 0); @param max the highest id (at most 2^32-1) */
    public IdAllocator(long min, long max) {
        if (min < 0 || max < min || max > 0xFFFF_FFFFL) {
            throw new IllegalArgumentException("bad id range " + min + ".." + max);
        }
        this.min = min;
        this.max = max;
        this.next = min;
    }

    public OptionalInt idOf(K key) {
        return ids.containsKey(key) ? OptionalInt.of(ids.getInt(key)) : OptionalInt.empty();
    }

    /** The owner of an id, or null when it is free or only reserved. */
    public K ownerOf(int id) {
        return owners.get(id);
    }

    /** The key's id, or the next free one after the last handed out; empty when every id is taken. */
    public OptionalInt acquire(K key) {
        if (ids.containsKey(key)) {
            return OptionalInt.of(ids.getInt(key));
        }
        long range = max - min + 1;
        if (owners.size() + reserved.size() >= range) {
            return OptionalInt.empty();
        }
        // terminates: fewer than 'range' ids are in use, so a free one is met within the range
        long candidate = next;
        probes++;
        while (inUse((int) candidate)) {
            candidate = candidate == max ? min : candidate + 1;
            probes++;
        }
        take(key, (int) candidate);
        next = candidate == max ? min : candidate + 1;
        return OptionalInt.of((int) candidate);
    }

    /**
     * Gives {@code key} the id it already has in the maps (free or reserved). Returns false when
     * the id is out of range or owned by another key, or the key already has another id.
     */
    public boolean adopt(K key, int id) {
        if (!inRange(id)) {
            return false;
        }
        if (ids.containsKey(key)) {
            return ids.getInt(key) == id;
        }
        if (owners.containsKey(id)) {
            return false;
        }
        reserved.remove(id);
        take(key, id);
        continueAfter(id);
        return true;
    }

    /** Marks an id as in use by an entry without a known owner; false when out of range or in use. */
    public boolean reserve(int id) {
        if (!inRange(id) || inUse(id)) {
            return false;
        }
        reserved.add(id);
        continueAfter(id);
        return true;
    }

    public boolean isReserved(int id) {
        return reserved.contains(id);
    }

    /** Frees every reserved id that was not adopted; the rolling position stays where it is. */
    public void releaseReserved() {
        reserved.clear();
    }

    /** Frees the key's id; a no-op for an unknown key. */
    public void release(K key) {
        if (ids.containsKey(key)) {
            owners.remove(ids.removeInt(key));
        }
    }

    /** Ids owned by keys (reserved ones excluded). */
    public int size() {
        return ids.size();
    }

    /** Ids looked at by {@link #acquire} since this allocator was made (taken or skipped as in use). */
    long probes() {
        return probes;
    }

    private boolean inUse(int id) {
        return owners.containsKey(id) || reserved.contains(id);
    }

    private boolean inRange(int id) {
        long unsigned = Integer.toUnsignedLong(id);
        return unsigned >= min && unsigned <= max;
    }

    private void take(K key, int id) {
        ids.put(key, id);
        owners.put(id, key);
    }

    /**
     * At restore: moves the rolling position past {@code id} when it is at or beyond it, so that
     * the position ends after the highest id found whatever order the maps list them in.
     */
    private void continueAfter(int id) {
        long unsigned = Integer.toUnsignedLong(id);
        if (unsigned >= next) {
            next = unsigned == max ? min : unsigned + 1;
        }
    }
}
