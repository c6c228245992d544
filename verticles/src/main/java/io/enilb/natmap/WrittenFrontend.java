package io.enilb.natmap;

import io.enilb.bpf.Structs.SvcValue;
import io.enilb.model.Backend;
import it.unimi.dsi.fastutil.ints.Int2IntMap;
import it.unimi.dsi.fastutil.ints.Int2IntOpenHashMap;
import it.unimi.dsi.fastutil.ints.Int2ObjectMap;
import it.unimi.dsi.fastutil.ints.Int2ObjectOpenHashMap;

/**
 * What the maps hold for one frontend, entry by entry: updated only when a write succeeded.
 * Primitive maps, sized from nothing: the writer holds one of these per frontend and one entry
 * per backend (500 000 at 50 000 Services), where a HashMap would add a node and boxed keys each.
 * A backend entry is held as the model's {@link Backend} it was written from (the same instance
 * the normalized Service holds; the entry's service id is the frontend's), not as a second object.
 *
 * @param <R> the family's reverse NAT value
 */
final class WrittenFrontend<R> {
    final int svcId;
    SvcValue service;
    R revNat;
    /** slot -> backend id */
    final Int2IntMap slots = new Int2IntOpenHashMap(0);
    /** backend id -> what its entry holds */
    final Int2ObjectMap<Backend> backends = new Int2ObjectOpenHashMap<>(0);

    WrittenFrontend(int svcId) {
        this.svcId = svcId;
    }

    boolean isEmpty() {
        return service == null && revNat == null && slots.isEmpty() && backends.isEmpty();
    }
}
