package io.enilb.bpf;

import io.enilb.bpf.BpfObject.MapNames;
import io.enilb.bpf.Structs.AffinityKey;
import io.enilb.bpf.Structs.AffinityKey6;
import io.enilb.bpf.Structs.AffinityValue;
import io.enilb.bpf.Structs.BackendEntry;
import io.enilb.bpf.Structs.BackendEntry6;
import io.enilb.bpf.Structs.CtConfig;
import io.enilb.bpf.Structs.CtKey;
import io.enilb.bpf.Structs.CtKey6;
import io.enilb.bpf.Structs.CtValue;
import io.enilb.bpf.Structs.CtValue6;
import io.enilb.bpf.Structs.FragKey;
import io.enilb.bpf.Structs.FragKey6;
import io.enilb.bpf.Structs.FragValue;
import io.enilb.bpf.Structs.FrontendPrefix6;
import io.enilb.bpf.Structs.PodKey;
import io.enilb.bpf.Structs.PodKey6;
import io.enilb.bpf.Structs.PodValue;
import io.enilb.bpf.Structs.RevNatValue;
import io.enilb.bpf.Structs.RevNatValue6;
import io.enilb.bpf.Structs.SlotKey;
import io.enilb.bpf.Structs.SockFlowKey;
import io.enilb.bpf.Structs.SockFlowValue;
import io.enilb.bpf.Structs.SockFlowKey6;
import io.enilb.bpf.Structs.SockFlowValue6;
import io.enilb.bpf.Structs.SockScope;
import io.enilb.bpf.Structs.SockScope6;
import io.enilb.bpf.Structs.SlotValue;
import io.enilb.bpf.Structs.SvcKey;
import io.enilb.bpf.Structs.SvcKey6;
import io.enilb.bpf.Structs.SvcStats;
import io.enilb.bpf.Structs.SvcValue;
import io.enilb.bpf.Structs.VipKey;
import io.enilb.bpf.Structs.VipKey6;
import io.enilb.bpf.Structs.VipValue;

/**
 * Every map of the datapath, typed. The IPv6 maps (suffix 6) mirror the IPv4 ones; service ids
 * are one space for both families, so {@link #serviceStats}, {@link #drops} and the lifetimes in
 * {@link #config} serve both (a dual-stack Service has a frontend, and an id, per family).
 */
public record Maps(
        BpfMap<SvcKey, SvcValue> services,
        BpfMap<SlotKey, SlotValue> slots,
        BpfMap<Integer, BackendEntry> backends,
        BpfMap<Integer, RevNatValue> revNat,
        BpfMap<CtKey, CtValue> conntrack,
        BpfMap<AffinityKey, AffinityValue> affinity,
        PerCpuArray<SvcStats> serviceStats,
        PerCpuArray<Long> drops,
        BpfMap<Integer, CtConfig> config,
        BpfMap<PodKey, PodValue> pods,
        BpfMap<FragKey, FragValue> fragments,
        BpfMap<VipKey, VipValue> clusterIps,
        BpfMap<Long, SockScope> sockScope,
        BpfMap<SockFlowKey, SockFlowValue> sockFlows,
        BpfMap<Long, SockScope6> sockScope6,
        BpfMap<SockFlowKey6, SockFlowValue6> sockFlows6,
        BpfMap<SvcKey6, SvcValue> services6,
        BpfMap<SlotKey, SlotValue> slots6,
        BpfMap<Integer, BackendEntry6> backends6,
        BpfMap<Integer, RevNatValue6> revNat6,
        BpfMap<CtKey6, CtValue6> conntrack6,
        BpfMap<AffinityKey6, AffinityValue> affinity6,
        BpfMap<PodKey6, PodValue> pods6,
        BpfMap<FragKey6, FragValue> fragments6,
        BpfMap<VipKey6, VipValue> clusterIps6,
        BpfMap<Integer, FrontendPrefix6> config6) {

    /**
     * Drop reasons, in the order of {@code enum drop_reason} in structs.h (DROP_ + the name);
     * StructLayoutTest checks names and values against the compiled object.
     */
    public enum DropReason {
        NO_BACKEND, SLOT_MISSING, BACKEND_MISSING, CT_FULL, REWRITE_FAILED, REJECT_FAILED, SPOOFED,
        // every packet of a translated flow is translated, nothing leaks
        FRAG_NO_FIRST, FRAG_FULL, ICMP_UNTRANSLATABLE, UNTRANSLATABLE
    }

    public static Maps of(BpfObject obj) {
        return new Maps(
                obj.map(MapNames.SERVICES, SvcKey.CODEC, SvcValue.CODEC),
                obj.map(MapNames.SLOTS, SlotKey.CODEC, SlotValue.CODEC),
                obj.map(MapNames.BACKENDS, StructCodec.U32, BackendEntry.CODEC),
                obj.map(MapNames.REV_NAT, StructCodec.U32, RevNatValue.CODEC),
                obj.map(MapNames.CONNTRACK, CtKey.CODEC, CtValue.CODEC),
                obj.map(MapNames.AFFINITY, AffinityKey.CODEC, AffinityValue.CODEC),
                obj.perCpuArray(MapNames.SERVICE_STATS, SvcStats.CODEC),
                obj.perCpuArray(MapNames.DROPS, StructCodec.U64),
                obj.map(MapNames.CONFIG, StructCodec.U32, CtConfig.CODEC),
                obj.map(MapNames.PODS, PodKey.CODEC, PodValue.CODEC),
                obj.map(MapNames.FRAGMENTS, FragKey.CODEC, FragValue.CODEC),
                obj.map(MapNames.CLUSTER_IPS, VipKey.CODEC, VipValue.CODEC),
                obj.map(MapNames.SOCK_SCOPE, StructCodec.U64, SockScope.CODEC),
                obj.map(MapNames.SOCK_FLOWS, SockFlowKey.CODEC, SockFlowValue.CODEC),
                obj.map(MapNames.SOCK_SCOPE6, StructCodec.U64, SockScope6.CODEC),
                obj.map(MapNames.SOCK_FLOWS6, SockFlowKey6.CODEC, SockFlowValue6.CODEC),
                obj.map(MapNames.SERVICES6, SvcKey6.CODEC, SvcValue.CODEC),
                obj.map(MapNames.SLOTS6, SlotKey.CODEC, SlotValue.CODEC),
                obj.map(MapNames.BACKENDS6, StructCodec.U32, BackendEntry6.CODEC),
                obj.map(MapNames.REV_NAT6, StructCodec.U32, RevNatValue6.CODEC),
                obj.map(MapNames.CONNTRACK6, CtKey6.CODEC, CtValue6.CODEC),
                obj.map(MapNames.AFFINITY6, AffinityKey6.CODEC, AffinityValue.CODEC),
                obj.map(MapNames.PODS6, PodKey6.CODEC, PodValue.CODEC),
                obj.map(MapNames.FRAGMENTS6, FragKey6.CODEC, FragValue.CODEC),
                obj.map(MapNames.CLUSTER_IPS6, VipKey6.CODEC, VipValue.CODEC),
                obj.map(MapNames.CONFIG6, StructCodec.U32, FrontendPrefix6.CODEC));
    }

    public SvcStats stats(int svcId) {
        return serviceStats.sum(svcId, SvcStats.ZERO, SvcStats::plus);
    }

    /** Sets the conntrack lifetimes the datapath uses from now on (zero fields: compiled defaults). */
    public void configure(CtConfig lifetimes) {
        config.put(0, lifetimes);
    }

    /**
     * Sets the prefix all IPv6 ClusterIPs lie in (the IPv6 Service CIDR); IPv6 traffic of a pod
     * to other addresses then skips the ClusterIP and deleted-Service lookups.
     */
    public void configure6(FrontendPrefix6 serviceCidr) {
        config6.put(0, serviceCidr);
    }

    public long dropped(DropReason reason) {
        return drops.sum(reason.ordinal(), 0L, Long::sum);
    }
}
