package io.enilb.natmap;

import it.unimi.dsi.fastutil.ints.Int2ObjectOpenHashMap;
import it.unimi.dsi.fastutil.ints.IntOpenHashSet;
import java.util.OptionalInt;

/**
 * Ids in {@code [min, max]} (unsigned 32-bit; an id above 2^31-1 is a negative int) handed out
 * rolling, as Cilium's id allocator does: the next free id after the last one handed out,
 * wrapping at {@code max}. A freed id therefore comes back only after the whole range has been
 * used once, so conntrack and affinity entries that still name it have long expired (and the
 * datapath validates what an id points at anyway). Each id in use has an owner; an owner may
 * hold many ids (a frontend holds one per backend: who asks for which id is the caller's
 * business, see {@link IdAllocator} for one id per key).
 *
 * <p>Ids found in the maps at start are adopted ({@link #adopt}) so that a restart does not
 * renumber, and the rolling position continues after the highest id seen; ids in use by entries
 * nobody claims yet are {@link #reserve reserved} until {@link #releaseReserved()}.
 *
 * <p>The search for a free id starts at the rolling position, not at {@code min}, and the
 * position only moves forward: handing out n ids costs n probes plus the ids skipped, and an id
 * is skipped at most once per turn of the range (see {@link #probes()}). One primitive map from
 * id to owner: the backend ids are 500 000 at 50 000 Services, and their owners are the
 * frontends' keys, shared, not an object per id.
 *
 * @param <O> an owner
 */
final class IdPool<O> {
    private final long min;
    private final long max;
    private final Int2ObjectOpenHashMap<O> owners = new Int2ObjectOpenHashMap<>();
    private final IntOpenHashSet reserved = new IntOpenHashSet();
    /** Where the search for the next free id starts. */
    private long next;
    /** Ids looked at by {@link #acquire} so far, taken or skipped: its cost. */
    private long probes;

    /** @param min the lowest id (at least 0); @param max the highest id (at most 2^32-1) */
    IdPool(long min, long max) {
        if (min < 0 || max < min || max > 0xFFFF_FFFFL) {
            throw new IllegalArgumentException("bad id range " + min + ".." + max);
        }
        this.min = min;
        this.max = max;
        this.next = min;
    }

    /** The owner of an id, or null when it is free or only reserved. */
    O ownerOf(int id) {
        return owners.get(id);
    }

    /** The next free id after the last handed out, now {@code owner}'s; empty when every id is taken. */
    OptionalInt acquire(O owner) {
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
        owners.put((int) candidate, owner);
        next = candidate == max ? min : candidate + 1;
        return OptionalInt.of((int) candidate);
    }

    /**
     * Gives {@code owner} an id it already has in the maps (free or reserved). Returns false when
     * the id is out of range or owned.
     */
    boolean adopt(O owner, int id) {
        if (!inRange(id) || owners.containsKey(id)) {
            return false;
        }
        reserved.remove(id);
        owners.put(id, owner);
        continueAfter(id);
        return true;
    }

    /** Marks an id as in use by an entry without a known owner; false when out of range or in use. */
    boolean reserve(int id) {
        if (!inRange(id) || inUse(id)) {
            return false;
        }
        reserved.add(id);
        continueAfter(id);
        return true;
    }

    boolean isReserved(int id) {
        return reserved.contains(id);
    }

    /** Frees every reserved id that was not adopted; the rolling position stays where it is. */
    void releaseReserved() {
        reserved.clear();
    }

    /** Frees an id; a no-op for a free one. */
    void release(int id) {
        owners.remove(id);
    }

    /** Ids owned (reserved ones excluded). */
    int size() {
        return owners.size();
    }

    /** Ids looked at by {@link #acquire} since this pool was made (taken or skipped as in use). */
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
