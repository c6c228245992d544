package io.enilb.natmap;

import static io.enilb.natmap.Fixtures.active;
import static io.enilb.natmap.Fixtures.tcp;
import static io.enilb.natmap.Fixtures.terminating;
import static io.enilb.natmap.Fixtures.upsert;
import static org.assertj.core.api.Assertions.assertThat;

import io.enilb.bpf.Ipv4;
import io.enilb.bpf.Ipv6;
import io.enilb.bpf.Structs.BackendEntry;
import io.enilb.bpf.Structs.BackendEntry6;
import io.enilb.bpf.Structs.RevNatValue6;
import io.enilb.bpf.Structs.SlotKey;
import io.enilb.bpf.Structs.SlotValue;
import io.enilb.bpf.Structs.SvcKey;
import io.enilb.bpf.Structs.SvcKey6;
import io.enilb.bpf.Structs.SvcValue;
import io.enilb.bpf.Structs.VipKey;
import io.enilb.bpf.Structs.VipKey6;
import io.enilb.bpf.Structs.VipValue;
import io.enilb.model.ClusterIp;
import io.enilb.model.IpFamily;
import io.enilb.model.NormalizedService;
import io.enilb.model.Protocol;
import io.enilb.model.ServiceKey;
import io.enilb.model.ServicePort;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** IPv6 and dual-stack Services: one frontend set per family, each in its family's maps, one id space. */
class NatMapWriterDualStackTest {
    private static final String VIP4 = "198.19.0.10";
    private static final String VIP6 = "2001:db8:19::10";
    private static final SvcKey FK4 = new SvcKey(Ipv4.parse(VIP4), 80, Protocol.TCP.number);
    private static final SvcKey6 FK6 = new SvcKey6(Ipv6.parse(VIP6), 80, Protocol.TCP.number);

    private final NatMaps maps = NatMaps.inMemory(16, 64);
    private final NatMapWriter writer = new NatMapWriter(maps);

    private static NormalizedService web(ClusterIp... clusterIps) {
        return new NormalizedService(ServiceKey.parse("default/web"), List.of(clusterIps), 0);
    }

    private static ClusterIp v4(String vip, ServicePort... ports) {
        return new ClusterIp(IpFamily.IPV4, vip, List.of(ports));
    }

    private static ClusterIp v6(String vip, ServicePort... ports) {
        return new ClusterIp(IpFamily.IPV6, vip, List.of(ports));
    }

    private static final NormalizedService DUAL = web(
            v4(VIP4, tcp(80, active("198.18.0.1", 8080))),
            v6(VIP6, tcp(80, active("2001:db8:18::1", 8080), terminating("2001:db8:18::2", 8080),
                    active("2001:db8:18::3", 8080))));

    @Test
    void aDualStackServiceIsOneFrontendSetPerFamilyEachInItsFamilysMaps() {
        writer.apply(upsert(DUAL));

        int id4 = maps.services().get(FK4).orElseThrow().svcId();
        SvcValue v6 = maps.v6().services().get(FK6).orElseThrow();
        assertThat(v6.svcId()).as("one service id space: the families never share an id").isNotEqualTo(id4);
        assertThat(v6.active()).isEqualTo(2);
        int b1 = writer.backendId(FK6, Ipv6.parse("2001:db8:18::1"), 8080).getAsInt();
        int b2 = writer.backendId(FK6, Ipv6.parse("2001:db8:18::2"), 8080).getAsInt();
        int b3 = writer.backendId(FK6, Ipv6.parse("2001:db8:18::3"), 8080).getAsInt();
        int b4 = writer.backendId(FK4, Ipv4.parse("198.18.0.1"), 8080).getAsInt();
        assertThat(List.of(b1, b2, b3, b4)).doesNotHaveDuplicates();
        assertThat(maps.v6().slots().entries()).containsOnly(
                Map.entry(new SlotKey(v6.svcId(), 0), new SlotValue(b1)),
                Map.entry(new SlotKey(v6.svcId(), 1), new SlotValue(b3)));
        assertThat(maps.v6().backends().get(b2)).contains(
                new BackendEntry6(Ipv6.parse("2001:db8:18::2"), 8080, BackendEntry.TERMINATING, v6.svcId()));
        assertThat(maps.v6().revNat().entries()).containsOnly(
                Map.entry(v6.svcId(), new RevNatValue6(Ipv6.parse(VIP6), 80)));
        assertThat(maps.v6().clusterIps().entries()).containsOnly(
                Map.entry(new VipKey6(Ipv6.parse(VIP6)), new VipValue(1)));
        // the IPv4 maps hold the IPv4 frontend set only
        assertThat(maps.services().entries()).containsOnlyKeys(FK4);
        assertThat(maps.slots().entries()).containsOnly(Map.entry(new SlotKey(id4, 0), new SlotValue(b4)));
        assertThat(maps.backends().entries()).containsOnlyKeys(b4);
        assertThat(maps.clusterIps().entries()).containsOnlyKeys(new VipKey(Ipv4.parse(VIP4)));
        assertThat(writer.frontendsProgrammed()).isEqualTo(2);
        assertThat(writer.backendsProgrammed()).isEqualTo(4);
        assertThat(writer.serviceId(writer.frontendKey(VIP6, 80, Protocol.TCP.number))).hasValue(v6.svcId());
        assertThat(writer.failures()).isEmpty();
    }

    @Test
    void droppingAFamilyRemovesItsFrontendSetAndLeavesTheOtherAsItWas() {
        writer.apply(upsert(DUAL));
        int id4 = maps.services().get(FK4).orElseThrow().svcId();
        Map<Integer, BackendEntry> backends4 = Map.copyOf(maps.backends().entries());

        writer.apply(upsert(web(v4(VIP4, tcp(80, active("198.18.0.1", 8080))))));

        assertThat(maps.v6().services().entries()).isEmpty();
        assertThat(maps.v6().slots().entries()).isEmpty();
        assertThat(maps.v6().backends().entries()).isEmpty();
        assertThat(maps.v6().revNat().entries()).isEmpty();
        assertThat(maps.v6().clusterIps().entries()).isEmpty();
        assertThat(maps.services().get(FK4).orElseThrow().svcId()).isEqualTo(id4);
        assertThat(maps.backends().entries()).isEqualTo(backends4);
        assertThat(writer.lastBatch().writes()).as("nothing of IPv4 rewritten").isZero();
    }

    @Test
    void aRestartAdoptsBothFamiliesWritesNothingAndContinuesTheIdsAfterTheHighest() {
        writer.apply(upsert(DUAL));
        int id6 = maps.v6().services().get(FK6).orElseThrow().svcId();
        int id4 = maps.services().get(FK4).orElseThrow().svcId();

        NatMapWriter restarted = new NatMapWriter(maps);
        restarted.restore();
        restarted.apply(upsert(DUAL));
        assertThat(restarted.lastBatch().writes()).isZero();
        assertThat(restarted.serviceId(FK6)).hasValue(id6);
        assertThat(restarted.backendId(FK6, Ipv6.parse("2001:db8:18::2"), 8080))
                .isEqualTo(writer.backendId(FK6, Ipv6.parse("2001:db8:18::2"), 8080));

        restarted.apply(upsert(new NormalizedService(ServiceKey.parse("default/api"),
                List.of(v6("2001:db8:19::20", tcp(443, active("2001:db8:18::9", 8443)))), 0)));
        int next = maps.v6().services().get(new SvcKey6(Ipv6.parse("2001:db8:19::20"), 443, 6)).orElseThrow().svcId();
        assertThat(next).isGreaterThan(Math.max(id4, id6));
    }

    @Test
    void reconcileRemovesIpv6EntriesNoServiceOwns() {
        writer.apply(upsert(DUAL));
        SvcKey6 stray = new SvcKey6(Ipv6.parse("2001:db8:19::99"), 80, 6);
        maps.v6().services().put(stray, new SvcValue(9, 1, 0, 0));
        maps.v6().slots().put(new SlotKey(9, 0), new SlotValue(999));
        maps.v6().backends().put(999, new BackendEntry6(Ipv6.parse("2001:db8:18::99"), 80, 0, 9));
        maps.v6().revNat().put(9, new RevNatValue6(Ipv6.parse("2001:db8:19::99"), 80));
        NatMapWriter restarted = new NatMapWriter(maps);
        restarted.restore();
        restarted.apply(upsert(DUAL));

        assertThat(restarted.reconcile()).isEqualTo(4);

        assertThat(maps.v6().services().entries()).containsOnlyKeys(FK6);
        assertThat(maps.v6().backends().entries()).doesNotContainKey(999);
        assertThat(maps.v6().slots().entries()).doesNotContainKey(new SlotKey(9, 0));
        assertThat(maps.v6().revNat().entries()).doesNotContainKey(9);
    }

    @Test
    void bothFamiliesDrawFromOneServiceIdSpace() {
        NatMaps small = NatMaps.inMemory(4, 64); // service ids 1..3
        NatMapWriter w = new NatMapWriter(small);
        w.apply(upsert(DUAL)); // 2 ids
        List<ServicePort> ports = new ArrayList<>(List.of(tcp(443, active("2001:db8:18::9", 8443)),
                tcp(444, active("2001:db8:18::9", 8444))));
        w.apply(upsert(new NormalizedService(ServiceKey.parse("default/api"),
                List.of(v6("2001:db8:19::20", ports.toArray(ServicePort[]::new))), 0)));

        assertThat(w.frontendsProgrammed()).isEqualTo(3);
        assertThat(w.failures()).hasSize(1);
        assertThat(w.failures().values()).allMatch(reason -> reason.startsWith("no free service id"));
    }
}
