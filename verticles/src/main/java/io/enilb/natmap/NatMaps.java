package io.enilb.natmap;

import io.enilb.bpf.InMemoryMap;
import io.enilb.bpf.Ipv6;
import io.enilb.bpf.KeyValueMap;
import io.enilb.bpf.Maps;
import io.enilb.bpf.Structs.BackendEntry;
import io.enilb.bpf.Structs.BackendEntry6;
import io.enilb.bpf.Structs.RevNatValue;
import io.enilb.bpf.Structs.RevNatValue6;
import io.enilb.bpf.Structs.SlotKey;
import io.enilb.bpf.Structs.SlotValue;
import io.enilb.bpf.Structs.SvcKey;
import io.enilb.bpf.Structs.SvcKey6;
import io.enilb.bpf.Structs.SvcStats;
import io.enilb.bpf.Structs.SvcValue;
import io.enilb.bpf.Structs.VipKey;
import io.enilb.bpf.Structs.VipKey6;
import io.enilb.bpf.Structs.VipValue;
import io.enilb.model.IpFamily;

/**
 * The maps the nat-map writer programs (maps.h: enilb_svc4, enilb_slot4, enilb_be4, enilb_rnat4,
 * and enilb_vip4: the addresses that have a frontend; their IPv6 peers in {@link V6}) and the
 * per-service counters it zeroes when it hands out a service id (one counters array and one
 * service id space for both families). Conntrack and affinity
 * belong to the datapath and are not written. Service ids range over 1 .. services.maxEntries()-1
 * (they index the counters), backend ids over the whole unsigned 32-bit space.
 */
public record NatMaps(
        KeyValueMap<SvcKey, SvcValue> services,
        KeyValueMap<SlotKey, SlotValue> slots,
        KeyValueMap<Integer, BackendEntry> backends,
        KeyValueMap<Integer, RevNatValue> revNat,
        KeyValueMap<VipKey, VipValue> clusterIps,
        ServiceCounters counters,
        V6 v6) {

    /** The IPv6 maps (enilb_svc6, enilb_slot6, enilb_be6, enilb_rnat6, enilb_vip6). */
    public record V6(
            KeyValueMap<SvcKey6, SvcValue> services,
            KeyValueMap<SlotKey, SlotValue> slots,
            KeyValueMap<Integer, BackendEntry6> backends,
            KeyValueMap<Integer, RevNatValue6> revNat,
            KeyValueMap<VipKey6, VipValue> clusterIps) {

        /** In memory with the kernel's capacities. */
        public static V6 inMemory(int maxServices, int maxBackends) {
            return new V6(
                    new InMemoryMap<>("enilb_svc6_v2", maxServices),
                    new InMemoryMap<>("enilb_slot6_v2", maxBackends),
                    new InMemoryMap<>("enilb_be6_v2", maxBackends),
                    new InMemoryMap<>("enilb_rnat6_v2", maxServices),
                    new InMemoryMap<>("enilb_vip6_v2", maxServices));
        }
    }

    /** IPv4 maps as given and in-memory IPv6 maps of the same capacities (tests of IPv4 behaviour). */
    public NatMaps(KeyValueMap<SvcKey, SvcValue> services, KeyValueMap<SlotKey, SlotValue> slots,
                   KeyValueMap<Integer, BackendEntry> backends, KeyValueMap<Integer, RevNatValue> revNat,
                   KeyValueMap<VipKey, VipValue> clusterIps, ServiceCounters counters) {
        this(services, slots, backends, revNat, clusterIps, counters,
                V6.inMemory(services.maxEntries(), backends.maxEntries()));
    }

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
                counters,
                V6.inMemory(maxServices, maxBackends));
    }

    /** The pinned kernel maps. */
    public static NatMaps of(Maps maps) {
        return new NatMaps(maps.services(), maps.slots(), maps.backends(), maps.revNat(), maps.clusterIps(),
                svcId -> maps.serviceStats().setAll(svcId, SvcStats.ZERO),
                new V6(maps.services6(), maps.slots6(), maps.backends6(), maps.revNat6(), maps.clusterIps6()));
    }

    /** The IPv4 maps as the writer programs them. */
    NatFamily<SvcKey, Integer, BackendEntry, RevNatValue, VipKey> ipv4() {
        return new NatFamily<>(IpFamily.IPV4, services, slots, backends, revNat, clusterIps, NatFamily.IPV4);
    }

    /** The IPv6 maps as the writer programs them. */
    NatFamily<SvcKey6, Ipv6, BackendEntry6, RevNatValue6, VipKey6> ipv6() {
        return new NatFamily<>(IpFamily.IPV6, v6.services, v6.slots, v6.backends, v6.revNat, v6.clusterIps,
                NatFamily.IPV6);
    }

    public int maxServices() {
        return services.maxEntries();
    }

    public int maxBackends() {
        return backends.maxEntries();
    }
}
