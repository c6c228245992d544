package io.enilb.natmap;

import io.enilb.bpf.Structs.SvcValue;
import it.unimi.dsi.fastutil.ints.Int2IntMap;
import it.unimi.dsi.fastutil.ints.Int2IntMaps;
import it.unimi.dsi.fastutil.ints.Int2ObjectMap;
import it.unimi.dsi.fastutil.ints.Int2ObjectMaps;
import java.util.List;

/**
 * The entries one frontend should have, with its ids resolved; {@code service == null} means
 * remove the frontend. {@code fresh} lists the backends that got a new id for this plan (given
 * back when the plan fails).
 *
 * @param <K> the family's frontend key
 * @param <B> the family's backend entry
 * @param <R> the family's reverse NAT value
 */
record FrontendPlan<K, B, R>(K frontend, SvcValue service, R revNat, Int2IntMap slots,
                             Int2ObjectMap<B> backends, List<NatMapWriter.BackendRef> fresh) {

    static <K, B, R> FrontendPlan<K, B, R> removal(K frontend) {
        return new FrontendPlan<>(frontend, null, null, Int2IntMaps.EMPTY_MAP, Int2ObjectMaps.emptyMap(), List.of());
    }

    boolean isRemoval() {
        return service == null;
    }
}
