package io.enilb.natmap;

import io.enilb.bpf.InMemoryMap;
import java.util.List;
import java.util.Map;

/**
 * A map that takes every write and keeps nothing, as the kernel keeps a pinned map's entries
 * outside the daemon's heap: what the writer holds can then be measured without the entries an
 * in-memory map would add (and share with the writer's own state). Reads find nothing: they go
 * to an in-memory map that stays empty.
 */
public final class KeptNowhereMap<K, V> extends ForwardingMap<K, V> {
    public KeptNowhereMap(String name, int maxEntries) {
        super(new InMemoryMap<>(name, maxEntries));
    }

    /** Maps of the given capacities that keep nothing, and counters that need no zeroing. */
    public static NatMaps natMaps(int maxServices, int maxBackends) {
        return new NatMaps(new KeptNowhereMap<>("enilb_svc4_v2", maxServices),
                new KeptNowhereMap<>("enilb_slot4_v2", maxBackends),
                new KeptNowhereMap<>("enilb_be4_v2", maxBackends),
                new KeptNowhereMap<>("enilb_rnat4_v2", maxServices),
                new KeptNowhereMap<>("enilb_vip4_v2", maxServices),
                svcId -> { },
                new NatMaps.V6(new KeptNowhereMap<>("enilb_svc6_v2", maxServices),
                        new KeptNowhereMap<>("enilb_slot6_v2", maxBackends),
                        new KeptNowhereMap<>("enilb_be6_v2", maxBackends),
                        new KeptNowhereMap<>("enilb_rnat6_v2", maxServices),
                        new KeptNowhereMap<>("enilb_vip6_v2", maxServices)));
    }

    @Override
    public void put(K key, V value) {
    }

    @Override
    public boolean delete(K key) {
        return true;
    }

    @Override
    public void putAll(List<Map.Entry<K, V>> entries) {
    }

    @Override
    public int deleteAll(List<K> keys) {
        return keys.size();
    }
}
