package io.enilb.lab;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** The lab itself: each kind of pod reaches the others, and closing removes everything. */
@org.junit.jupiter.api.Tag("kernel") // root, BPF and network namespaces: left out by -DexcludedGroups=kernel
class LabTest {
    @Test
    void vethMacvlanAndSharedNicPodsTalkAcrossTheFabricAndVanishOnClose() {
        Lab lab = new Lab();
        try {
            Pod server = lab.pod("srv", "198.18.0.61");
            Pod macvlan = lab.macvlanPod("mac", "198.18.0.62");
            Lab.SharedNic shared = lab.sharedNicPod("s", 63, 210);
            lab.routeToSharedNic(server, shared);
            lab.echoServer(server.namespace(), "srv", 8080, 5353);

            assertThat(macvlan.http(server.ip(), 8080).output()).isEqualTo("srv " + macvlan.ip() + "\n");
            // the shared-NIC pod's packets are routed by its node, not translated: the server sees the pod
            assertThat(shared.pod().http(server.ip(), 8080).output()).isEqualTo("srv " + shared.pod().ip() + "\n");
            assertThat(lab.remainingNamespaces()).hasSize(5); // fabric, srv, mac, node, shared-NIC pod
        } finally {
            lab.close();
        }
        assertThat(lab.remainingNamespaces()).isEmpty();
    }

    @Test
    void ipv6OnlyAndDualStackPodsTalkOverTheirFamiliesAtOnce() {
        Lab lab = new Lab();
        try {
            Pod dual = lab.pod("dual", "198.18.0.64", "2001:db8:18::64");
            Pod v6 = lab.pod("v6", null, "2001:db8:18::65");
            Pod macvlan = lab.macvlanPod("mac6", null, "2001:db8:18::66");
            lab.echoServer(dual.namespace(), "dual", 8080, 5353);

            // no DAD: usable the moment they are configured, no tentative address
            assertThat(v6.exec("ip", "-6", "addr", "show", "dev", "eth0")).doesNotContain("tentative");
            assertThat(v6.http(dual.ip6(), 8080).output()).isEqualTo("dual " + v6.ip6() + "\n");
            assertThat(macvlan.http(dual.ip6(), 8080).output()).isEqualTo("dual " + macvlan.ip6() + "\n");
            assertThat(v6.udp(dual.ip6(), 5353).output()).isEqualTo("dual " + v6.ip6() + "\n");
            assertThat(v6.exec("ip", "-6", "route", "show", "default")).contains("via " + Lab.GATEWAY6);
            // an IPv4 client of the dual-stack server still shows as IPv4
            assertThat(lab.pod("c4", "198.18.0.67").http(dual.ip(), 8080).output()).isEqualTo("dual 198.18.0.67\n");
        } finally {
            lab.close();
        }
        assertThat(lab.remainingNamespaces()).isEmpty();
    }
}
