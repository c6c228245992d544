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
}
