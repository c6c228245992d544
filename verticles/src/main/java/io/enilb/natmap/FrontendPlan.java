package io.enilb.natmap;

import io.enilb.bpf.Structs.SvcValue;
import io.enilb.model.Backend;
import it.unimi.dsi.fastutil.ints.Int2IntMap;
import it.unimi.dsi.fastutil.ints.Int2IntMaps;
import it.unimi.dsi.fastutil.ints.Int2ObjectMap;
import it.unimi.dsi.fastutil.ints.Int2ObjectMaps;
import it.unimi.dsi.fastutil.ints.IntList;
import it.unimi.dsi.fastutil.ints.IntLists;

/**
 * The entries one frontend should have, with its ids resolved; {@code service == null} means
 * remove the frontend. {@code fresh} lists the backend ids that are new for this plan (given
 * back when the plan fails).
 *
 * @param <K> the family's frontend key
 * @param <R> the family's reverse NAT value
 */
record FrontendPlan<K, R>(K frontend, SvcValue service, R revNat, Int2IntMap slots,
                          Int2ObjectMap<Backend> backends, IntList fresh) {

    static <K, R> FrontendPlan<K, R> removal(K frontend) {
        return new FrontendPlan<>(frontend, null, null, Int2IntMaps.EMPTY_MAP, Int2ObjectMaps.emptyMap(), IntLists.EMPTY_LIST);
    }

    boolean isRemoval() {
        return service == null;
    }
}
