package io.enilb.natmap;

import io.enilb.bpf.InMemoryMap;
import io.enilb.bpf.KeyValueMap;
import io.enilb.bpf.Maps;
import io.enilb.bpf.Structs.BackendEntry;
import io.enilb.bpf.Structs.RevNatValue;
import io.enilb.bpf.Structs.SlotKey;
import io.enilb.bpf.Structs.SlotValue;
import io.enilb.bpf.Structs.SvcKey;
import io.enilb.bpf.Structs.SvcValue;
import io.enilb.bpf.Structs.VipKey;
import io.enilb.bpf.Structs.VipValue;

/**
 * The maps the nat-map writer programs (maps.h: enilb_svc4_v1, enilb_slot4_v1, enilb_be4_v1,
 * enilb_rnat4_v1, and enilb_vip4_v2: the addresses that have a frontend). Conntrack, affinity and the counters belong to the datapath and are not written.
 * Service ids range over 0 .. services.maxEntries()-1, backend ids over 1 .. backends.maxEntries().
 */
public record NatMaps(
        KeyValueMap<SvcKey, SvcValue> services,
        KeyValueMap<SlotKey, SlotValue> slots,
        KeyValueMap<Integer, BackendEntry> backends,
        KeyValueMap<Integer, RevNatValue> revNat,
        KeyValueMap<VipKey, VipValue> clusterIps) {

    /** Maps in memory with the kernel's capacities, for logic tested without root. */
    public static NatMaps inMemory(int maxServices, int maxBackends) {
        return new NatMaps(
                new InMemoryMap<>("enilb_svc4_v1", maxServices),
                new InMemoryMap<>("enilb_slot4_v1", maxBackends),
                new InMemoryMap<>("enilb_be4_v1", maxBackends),
                new InMemoryMap<>("enilb_rnat4_v1", maxServices),
                new InMemoryMap<>("enilb_vip4_v2", maxServices));
    }

    /** The pinned kernel maps. */
    public static NatMaps of(Maps maps) {
        return new NatMaps(maps.services(), maps.slots(), maps.backends(), maps.revNat(), maps.clusterIps());
    }

    public int maxServices() {
        return services.maxEntries();
    }

    public int maxBackends() {
        return backends.maxEntries();
    }
}
