package io.enilb.natmap;

import static org.assertj.core.api.Assertions.assertThat;

import io.enilb.bpf.Ipv4;
import io.enilb.bpf.Structs.BackendEntry;
import io.enilb.bpf.Structs.RevNatValue;
import io.enilb.bpf.Structs.SlotKey;
import io.enilb.bpf.Structs.SlotValue;
import io.enilb.bpf.Structs.SvcKey;
import io.enilb.bpf.Structs.SvcValue;
import io.enilb.model.Backend;
import io.enilb.model.ClusterIp;
import io.enilb.model.IpFamily;
import io.enilb.model.NormalizedService;
import io.enilb.model.Protocol;
import io.enilb.model.ServiceChange;
import io.enilb.model.ServiceKey;
import io.enilb.model.ServicePort;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Builders for services and the model the maps must equal, computed straight from the services. */
final class Fixtures {
    private Fixtures() {
    }

    static NormalizedService svc(String name, String clusterIp, int affinity, ServicePort... ports) {
        return new NormalizedService(ServiceKey.parse("default/" + name), clusterIp, List.of(ports), affinity);
    }

    static ServicePort tcp(int port, Backend... backends) {
        return new ServicePort("", Protocol.TCP, port, List.of(backends));
    }

    static ServicePort udp(int port, Backend... backends) {
        return new ServicePort("", Protocol.UDP, port, List.of(backends));
    }

    static Backend active(String ip, int port) {
        return new Backend(ip, port, Backend.State.ACTIVE);
    }

    static Backend terminating(String ip, int port) {
        return new Backend(ip, port, Backend.State.TERMINATING);
    }

    static SvcKey frontend(String ip, int port, Protocol proto) {
        return new SvcKey(Ipv4.parse(ip), port, proto.number);
    }

    static List<ServiceChange> upsert(NormalizedService... services) {
        return java.util.Arrays.stream(services).map(s -> new ServiceChange(s.key(), s)).toList();
    }

    static List<ServiceChange> delete(String name) {
        return List.of(ServiceChange.deleted(ServiceKey.parse("default/" + name)));
    }

    /**
     * Asserts that the maps hold exactly what the services ask for, with the writer's ids, and
     * the datapath's invariants: ids unique and in range, no slot at or beyond 'active', every
     * slot names an existing non-terminating backend, every service has its reverse NAT.
     */
    static void assertMapsMatch(NatMaps maps, NatMapWriter writer, Collection<NormalizedService> services) {
        Map<SvcKey, SvcValue> svc = new HashMap<>();
        Map<SlotKey, SlotValue> slots = new HashMap<>();
        Map<Integer, BackendEntry> backends = new HashMap<>();
        Map<Integer, RevNatValue> revNat = new HashMap<>();
        for (NormalizedService s : services) {
            ClusterIp clusterIp = s.clusterIps().stream().filter(c -> c.family() == IpFamily.IPV4).findFirst().orElse(null);
            if (clusterIp == null) {
                continue;
            }
            int vip = Ipv4.parse(clusterIp.address());
            for (ServicePort p : clusterIp.ports()) {
                SvcKey fk = new SvcKey(vip, p.port(), p.protocol().number);
                assertThat(writer.serviceId(fk)).as("service id of %s", fk).isPresent();
                int svcId = writer.serviceId(fk).getAsInt();
                int active = 0;
                for (Backend b : p.backends()) {
                    int addr = Ipv4.parse(b.ip());
                    assertThat(writer.backendId(fk, addr, b.port())).as("backend id of %s %s", fk, b).isPresent();
                    int id = writer.backendId(fk, addr, b.port()).getAsInt();
                    boolean term = b.state() == Backend.State.TERMINATING;
                    assertThat(backends.put(id, new BackendEntry(addr, b.port(), term ? BackendEntry.TERMINATING : 0, svcId)))
                            .as("backend id %d used twice", id).isNull();
                    if (!term) {
                        slots.put(new SlotKey(svcId, active++), new SlotValue(id));
                    }
                }
                assertThat(revNat.put(svcId, new RevNatValue(vip, p.port()))).as("service id %d used twice", svcId).isNull();
                svc.put(fk, new SvcValue(svcId, active, s.affinityTimeoutSeconds(), 0));
            }
        }
        assertThat(maps.services().entries()).as("services").isEqualTo(svc);
        assertThat(maps.slots().entries()).as("slots").isEqualTo(slots);
        assertThat(maps.backends().entries()).as("backends").isEqualTo(backends);
        assertThat(maps.revNat().entries()).as("revNat").isEqualTo(revNat);
        assertInvariants(maps);
    }

    static void assertInvariants(NatMaps maps) {
        Map<Integer, SvcValue> byId = new HashMap<>();
        Set<Integer> ids = new HashSet<>();
        maps.services().entries().forEach((k, v) -> {
            assertThat(ids.add(v.svcId())).as("service id %d unique", v.svcId()).isTrue();
            assertThat(v.svcId()).as("service ids index the counters").isBetween(1, maps.maxServices() - 1);
            byId.put(v.svcId(), v);
            assertThat(maps.revNat().get(v.svcId())).as("revNat of %s", k).isPresent();
            for (int i = 0; i < v.active(); i++) {
                assertThat(maps.slots().get(new SlotKey(v.svcId(), i))).as("slot %d of %s", i, k).isPresent();
            }
        });
        Map<Integer, BackendEntry> backends = maps.backends().entries();
        backends.keySet().forEach(id -> assertThat(id).as("backend id 0 is never handed out").isNotZero());
        maps.slots().entries().forEach((k, v) -> {
            SvcValue s = byId.get(k.svcId());
            assertThat(s).as("slot %s has a service", k).isNotNull();
            assertThat(k.slot()).as("slot %s below active", k).isLessThan(s.active());
            BackendEntry b = backends.get(v.backendId());
            assertThat(b).as("slot %s names an existing backend", k).isNotNull();
            assertThat(b.terminating()).as("slot %s names a terminating backend", k).isFalse();
        });
        Map<io.enilb.bpf.Structs.VipKey, Integer> addresses = new HashMap<>();
        maps.services().entries().keySet()
                .forEach(k -> addresses.merge(new io.enilb.bpf.Structs.VipKey(k.addr()), 1, Integer::sum));
        Map<io.enilb.bpf.Structs.VipKey, Integer> written = new HashMap<>();
        maps.clusterIps().entries().forEach((k, v) -> written.put(k, v.frontends()));
        assertThat(written).as("ClusterIP addresses and their frontend counts").isEqualTo(addresses);
    }
}
