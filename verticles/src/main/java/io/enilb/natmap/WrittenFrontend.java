package io.enilb.natmap;

import io.enilb.bpf.Structs.SvcValue;
import java.util.HashMap;
import java.util.Map;

/**
 * What the maps hold for one frontend, entry by entry: updated only when a write succeeded.
 *
 * @param <B> the family's backend entry
 * @param <R> the family's reverse NAT value
 */
final class WrittenFrontend<B, R> {
    final int svcId;
    SvcValue service;
    R revNat;
    /** slot -> backend id */
    final Map<Integer, Integer> slots = new HashMap<>();
    /** backend id -> entry */
    final Map<Integer, B> backends = new HashMap<>();

    WrittenFrontend(int svcId) {
        this.svcId = svcId;
    }

    boolean isEmpty() {
        return service == null && revNat == null && slots.isEmpty() && backends.isEmpty();
    }
}
