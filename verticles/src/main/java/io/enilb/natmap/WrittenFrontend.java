package io.enilb.natmap;

import io.enilb.bpf.Structs.BackendEntry;
import io.enilb.bpf.Structs.RevNatValue;
import io.enilb.bpf.Structs.SvcValue;
import java.util.HashMap;
import java.util.Map;

/** What the maps hold for one frontend, entry by entry: updated only when a write succeeded. */
final class WrittenFrontend {
    final int svcId;
    SvcValue service;
    RevNatValue revNat;
    /** slot -> backend id */
    final Map<Integer, Integer> slots = new HashMap<>();
    /** backend id -> entry */
    final Map<Integer, BackendEntry> backends = new HashMap<>();

    WrittenFrontend(int svcId) {
        this.svcId = svcId;
    }

    boolean isEmpty() {
        return service == null && revNat == null && slots.isEmpty() && backends.isEmpty();
    }
}
