package io.enilb.bpf;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import io.enilb.bpf.Structs.BackendEntry;
import io.enilb.bpf.Structs.BackendEntry6;
import io.enilb.bpf.Structs.PodKey;
import io.enilb.bpf.Structs.PodKey6;
import io.enilb.bpf.Structs.PodValue;
import io.enilb.bpf.Structs.RevNatValue;
import io.enilb.bpf.Structs.RevNatValue6;
import io.enilb.bpf.Structs.SlotKey;
import io.enilb.bpf.Structs.SlotValue;
import io.enilb.bpf.Structs.SvcKey;
import io.enilb.bpf.Structs.SvcKey6;
import io.enilb.bpf.Structs.SvcValue;
import io.enilb.bpf.Structs.VipKey;
import io.enilb.bpf.Structs.VipKey6;
import io.enilb.bpf.Structs.VipValue;

/**
 * The datapath loaded under a pin root of its own, removed on close. Also writes frontends the
 * way the nat-map verticle does (backends, slots, reverse NAT, then the service entry), so the
 * packet tests need nothing above this module.
 */
public final class DatapathFixture implements AutoCloseable {
    public final Path pinRoot = Path.of("/sys/fs/bpf/enilb-test-" + UUID.randomUUID().toString().substring(0, 8));
    public final Datapath datapath;
    public final Maps maps;
    private int nextBackendId = 1;

    public DatapathFixture() {
        this(Map.of(BpfObject.MapNames.SERVICES, 1024, BpfObject.MapNames.SLOTS, 4096,
                BpfObject.MapNames.BACKENDS, 4096, BpfObject.MapNames.REV_NAT, 1024,
                BpfObject.MapNames.CONNTRACK, 8192, BpfObject.MapNames.AFFINITY, 1024,
                BpfObject.MapNames.SERVICE_STATS, 1024, BpfObject.MapNames.PODS, 64));
    }

    /** Loads with {@code sizes}; the IPv6 maps a test does not size get the small sizes of {@link #SMALL6}. */
    public DatapathFixture(Map<String, Integer> sizes) {
        Map<String, Integer> all = new java.util.HashMap<>(SMALL6);
        all.putAll(sizes);
        datapath = Datapath.load(TestObjects.bpfObject(), pinRoot, all);
        maps = datapath.maps();
    }

    /** Test sizes of the IPv6 maps (the compiled ones preallocate hundreds of thousands of entries). */
    static final Map<String, Integer> SMALL6 = Map.of(BpfObject.MapNames.SERVICES6, 1024,
            BpfObject.MapNames.SLOTS6, 4096, BpfObject.MapNames.BACKENDS6, 4096, BpfObject.MapNames.REV_NAT6, 1024,
            BpfObject.MapNames.CONNTRACK6, 8192, BpfObject.MapNames.AFFINITY6, 1024, BpfObject.MapNames.PODS6, 64,
            BpfObject.MapNames.FRAGMENTS6, 1024, BpfObject.MapNames.CLUSTER_IPS6, 1024);

    /** Writes IPv6 frontend {@code [vip]:port/proto} as service {@code svcId}, as {@link #service}. */
    public List<Integer> service6(int svcId, String vip, int port, int proto, int affinitySeconds, Be... backends) {
        List<Integer> ids = new java.util.ArrayList<>();
        int slot = 0;
        for (Be be : backends) {
            int id = nextBackendId++;
            ids.add(id);
            maps.backends6().put(id, new BackendEntry6(Ipv6.parse(be.ip), be.port,
                    be.terminating ? BackendEntry.TERMINATING : 0, svcId));
            if (!be.terminating) {
                maps.slots6().put(new SlotKey(svcId, slot++), new SlotValue(id));
            }
        }
        maps.revNat6().put(svcId, new RevNatValue6(Ipv6.parse(vip), port));
        maps.services6().put(new SvcKey6(Ipv6.parse(vip), port, proto), new SvcValue(svcId, slot, affinitySeconds, 0));
        VipKey6 address = new VipKey6(Ipv6.parse(vip));
        maps.clusterIps6().put(address, new VipValue(maps.clusterIps6().get(address).map(v -> v.frontends() + 1).orElse(1)));
        return ids;
    }

    /** Records IPv6 {@code ip} as a source the test's pod owns (see {@link #podOwns}). */
    public DatapathFixture podOwns6(String ip) {
        maps.pods6().put(new PodKey6(cookie(), Ipv6.parse(ip)), PodValue.PRESENT);
        return this;
    }

    /** A backend of a frontend; terminating ones are written but get no slot. */
    public record Be(String ip, int port, boolean terminating) {
        public static Be active(String ip, int port) {
            return new Be(ip, port, false);
        }

        public static Be terminating(String ip, int port) {
            return new Be(ip, port, true);
        }
    }

    /** Writes frontend {@code vip:port/proto} as service {@code svcId}; returns the backend ids in order. */
    public List<Integer> service(int svcId, String vip, int port, int proto, int affinitySeconds, Be... backends) {
        List<Integer> ids = new java.util.ArrayList<>();
        int slot = 0;
        for (Be be : backends) {
            int id = nextBackendId++;
            ids.add(id);
            maps.backends().put(id, new BackendEntry(Ipv4.parse(be.ip), be.port,
                    be.terminating ? BackendEntry.TERMINATING : 0, svcId));
            if (!be.terminating) {
                maps.slots().put(new SlotKey(svcId, slot++), new SlotValue(id));
            }
        }
        maps.revNat().put(svcId, new RevNatValue(Ipv4.parse(vip), port));
        maps.services().put(new SvcKey(Ipv4.parse(vip), port, proto), new SvcValue(svcId, slot, affinitySeconds, 0));
        VipKey address = new VipKey(Ipv4.parse(vip));
        maps.clusterIps().put(address, new VipValue(maps.clusterIps().get(address).map(v -> v.frontends() + 1).orElse(1)));
        return ids;
    }

    /** Deletes frontend {@code vip:port/proto} as the nat-map verticle does: the entry, then the address once unused. */
    public void deleteFrontend(String vip, int port, int proto) {
        maps.services().delete(new SvcKey(Ipv4.parse(vip), port, proto));
        VipKey address = new VipKey(Ipv4.parse(vip));
        int left = maps.clusterIps().get(address).map(VipValue::frontends).orElse(0) - 1;
        if (left > 0) {
            maps.clusterIps().put(address, new VipValue(left));
        } else {
            maps.clusterIps().delete(address);
        }
    }

    /**
     * Records {@code ip} as a source the test's pod owns. BPF_PROG_TEST_RUN runs a packet on the
     * loopback of the caller's namespace, so the "pod" is the test thread's namespace.
     */
    public DatapathFixture podOwns(String ip) {
        maps.pods().put(new PodKey(cookie(), Ipv4.parse(ip)), PodValue.PRESENT);
        return this;
    }

    /** The namespace cookie the programs see under BPF_PROG_TEST_RUN from this thread. */
    public long cookie() {
        return Netns.currentCookie();
    }

    public BpfProgram egress() {
        return datapath.program(Datapath.EGRESS);
    }

    public BpfProgram ingress() {
        return datapath.program(Datapath.INGRESS);
    }

    public BpfProgram loEgress() {
        return datapath.program(Datapath.LO_EGRESS);
    }

    @Override
    public void close() {
        datapath.detachSocketHooks();
        datapath.close();
        BpfObject.unpinAll(pinRoot);
    }
}
