package io.enilb.natmap;

import io.enilb.bpf.InMemoryMap;
import io.enilb.bpf.KeyValueMap;
import io.enilb.bpf.Maps;
import io.enilb.bpf.Structs.BackendEntry;
import io.enilb.bpf.Structs.RevNatValue;
import io.enilb.bpf.Structs.SlotKey;
import io.enilb.bpf.Structs.SlotValue;
import io.enilb.bpf.Structs.SvcKey;
import io.enilb.bpf.Structs.SvcStats;
import io.enilb.bpf.Structs.SvcValue;
import io.enilb.bpf.Structs.VipKey;
import io.enilb.bpf.Structs.VipValue;
import io.enilb.model.IpFamily;

/**
 * The maps the nat-map writer programs (maps.h: enilb_svc4, enilb_slot4, enilb_be4, enilb_rnat4,
 * and enilb_vip4: the addresses that have a frontend) and the per-service counters it zeroes
 * when it hands out a service id. Conntrack and affinity
 * belong to the datapath and are not written. Service ids range over 1 .. services.maxEntries()-1
 * (they index the counters), backend ids over the whole unsigned 32-bit space.
 */
public record NatMaps(
        KeyValueMap<SvcKey, SvcValue> services,
        KeyValueMap<SlotKey, SlotValue> slots,
        KeyValueMap<Integer, BackendEntry> backends,
        KeyValueMap<Integer, RevNatValue> revNat,
        KeyValueMap<VipKey, VipValue> clusterIps,
        ServiceCounters counters) {

    /** The per-service counters of the datapath (the per-CPU stats array). */
    @FunctionalInterface
    public interface ServiceCounters {
        /** Zeroes the counters of a service id about to be given to a new frontend. */
        void reset(int svcId);
    }

    /** Maps in memory with the kernel's capacities, for logic tested without root. */
    public static NatMaps inMemory(int maxServices, int maxBackends) {
        return inMemory(maxServices, maxBackends, svcId -> { });
    }

    public static NatMaps inMemory(int maxServices, int maxBackends, ServiceCounters counters) {
        return new NatMaps(
                new InMemoryMap<>("enilb_svc4_v2", maxServices),
                new InMemoryMap<>("enilb_slot4_v2", maxBackends),
                new InMemoryMap<>("enilb_be4_v2", maxBackends),
                new InMemoryMap<>("enilb_rnat4_v2", maxServices),
                new InMemoryMap<>("enilb_vip4_v2", maxServices),
                counters);
    }

    /** The pinned kernel maps. */
    public static NatMaps of(Maps maps) {
        return new NatMaps(maps.services(), maps.slots(), maps.backends(), maps.revNat(), maps.clusterIps(),
                svcId -> maps.serviceStats().setAll(svcId, SvcStats.ZERO));
    }

    /** The IPv4 maps as the writer programs them. */
    NatFamily<SvcKey, Integer, BackendEntry, RevNatValue, VipKey> ipv4() {
        return new NatFamily<>(IpFamily.IPV4, services, slots, backends, revNat, clusterIps, NatFamily.IPV4);
    }

    public int maxServices() {
        return services.maxEntries();
    }

    public int maxBackends() {
        return backends.maxEntries();
    }
}
