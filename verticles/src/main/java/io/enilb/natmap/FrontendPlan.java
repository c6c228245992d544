package io.enilb.natmap;

import io.enilb.bpf.Structs.BackendEntry;
import io.enilb.bpf.Structs.RevNatValue;
import io.enilb.bpf.Structs.SvcKey;
import io.enilb.bpf.Structs.SvcValue;
import java.util.List;
import java.util.Map;

/**
 * The entries one frontend should have, with its ids resolved; {@code service == null} means
 * remove the frontend. {@code fresh} lists the backends that got a new id for this plan (given
 * back when the plan fails).
 */
record FrontendPlan(SvcKey frontend, SvcValue service, RevNatValue revNat, Map<Integer, Integer> slots,
                    Map<Integer, BackendEntry> backends, List<NatMapWriter.BackendRef> fresh) {

    static FrontendPlan removal(SvcKey frontend) {
        return new FrontendPlan(frontend, null, null, Map.of(), Map.of(), List.of());
    }

    boolean isRemoval() {
        return service == null;
    }
}
