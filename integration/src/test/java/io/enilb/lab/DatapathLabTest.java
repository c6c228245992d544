package io.enilb.lab;

import static io.enilb.bpf.Structs.BackendEntry;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import io.enilb.bpf.Datapath;
import io.enilb.bpf.Ipv4;
import io.enilb.bpf.PodDatapath.AttachedProgram;
import io.enilb.bpf.Structs.RevNatValue;
import io.enilb.bpf.Structs.SlotKey;
import io.enilb.bpf.Structs.SlotValue;
import io.enilb.bpf.Structs.SvcKey;
import io.enilb.bpf.Structs.SvcValue;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Real traffic through the real programs: pods with their own NIC on a fabric, a ClusterIP with
 * two backends, attached the way the daemon attaches them.
 */
@org.junit.jupiter.api.Tag("kernel") // root, BPF and network namespaces: left out by -DexcludedGroups=kernel
@ExtendWith(LabFixture.Extension.class)
class DatapathLabTest {
    static final String WEB = "198.19.0.10";
    static final String SELF = "198.19.0.11";
    static final String EMPTY = "198.19.0.12";

    static Lab lab;
    static Datapath datapath;
    static Pod client;
    static Pod be1;
    static Pod be2;

    @BeforeAll
    static void buildLab(LabFixture fixture) {
        lab = fixture.lab();
        client = lab.pod("client", "198.18.0.10");
        be1 = lab.pod("be1", "198.18.0.21");
        be2 = lab.pod("be2", "198.18.0.22");
        lab.echoServer(be1.namespace(), "be1", 8080, 5353);
        lab.echoServer(be2.namespace(), "be2", 8080, 5353);
        lab.echoServer(client.namespace(), "client", 8080, 5353);
        datapath = fixture.datapath();
        datapath.attach(client.netns(), "eth0");
        datapath.registerAddresses(client.netns(), List.of(Ipv4.parse(client.ip())));

        frontend(1, WEB, 80, 6, 0, be1.ip(), be2.ip());
        frontend(2, WEB, 53, 17, 2, be1.ip(), be2.ip());
        frontend(3, SELF, 80, 6, 0, client.ip());
        frontend(4, EMPTY, 80, 6, 0);
    }

    /** Writes a frontend in make-before-break order; backend ids are svcId*10 + n. */
    static void frontend(int svcId, String vip, int port, int proto, int firstBackend, String... ips) {
        int backendPort = proto == 6 ? 8080 : 5353;
        for (int i = 0; i < ips.length; i++) {
            int id = svcId * 10 + i;
            datapath.maps().backends().put(id, new BackendEntry(Ipv4.parse(ips[i]), backendPort, 0, svcId));
            datapath.maps().slots().put(new SlotKey(svcId, i), new SlotValue(id));
        }
        datapath.maps().revNat().put(svcId, new RevNatValue(Ipv4.parse(vip), port));
        datapath.maps().services().put(new SvcKey(Ipv4.parse(vip), port, proto), new SvcValue(svcId, ips.length, 0, 0));
    }

    @Test
    void programsCarryTheirNamesAndSitOnTheNicAndLoopback() {
        List<AttachedProgram> attached = datapath.attached(client.netns(), "eth0");
        assertThat(attached).extracting(AttachedProgram::device, AttachedProgram::direction, AttachedProgram::programName)
                .containsExactlyInAnyOrder(
                        org.assertj.core.groups.Tuple.tuple("eth0", "egress", "enilb_egress"),
                        org.assertj.core.groups.Tuple.tuple("eth0", "ingress", "enilb_ingress"),
                        org.assertj.core.groups.Tuple.tuple("lo", "egress", "enilb_lo_egress"));
        String shown = lab.exec(lab.fabric(), "bpftool", "prog", "show", "id", Integer.toString(attached.get(0).programId()));
        assertThat(shown).contains("name enilb_");
    }

    @Test
    void httpOverTheClusterIpReachesBothBackends() {
        Map<String, Integer> byBackend = new HashMap<>();
        for (int i = 0; i < 40; i++) {
            Lab.Result r = client.http(WEB, 80);
            assertThat(r.ok()).as("request %d: %s", i, r.output()).isTrue();
            byBackend.merge(r.output().split(" ")[0], 1, Integer::sum);
            assertThat(r.output()).endsWith(client.ip() + "\n");
        }
        assertThat(byBackend.keySet()).containsExactlyInAnyOrder("be1", "be2");
    }

    @Test
    void anOnLinkBackendIsReachedDirectlyNotThroughTheRouter() {
        long before = forwardedByRouter();
        for (int i = 0; i < 20; i++) {
            assertThat(client.http(WEB, 80).ok()).isTrue();
        }
        // the pod addressed the ClusterIP via its gateway; after DNAT the packet goes to the
        // backend's own MAC, as a packet addressed to the backend would
        assertThat(forwardedByRouter() - before).isZero();
    }

    /** Ip ForwDatagrams of the fabric's router (/proc/net/snmp). */
    static long forwardedByRouter() {
        List<String> ip = lab.exec(lab.fabric(), "cat", "/proc/net/snmp").lines().filter(l -> l.startsWith("Ip:")).toList();
        List<String> names = List.of(ip.get(0).split("\\s+"));
        return Long.parseLong(ip.get(1).split("\\s+")[names.indexOf("ForwDatagrams")]);
    }

    @Test
    void udpRequestResponseOverTheClusterIp() {
        for (int i = 0; i < 10; i++) {
            Lab.Result r = client.udp(WEB, 53);
            assertThat(r.ok()).as("datagram %d: %s", i, r.output()).isTrue();
            assertThat(r.output()).matches("be[12] " + client.ip().replace(".", "\\.") + "\\s*");
        }
    }

    @Test
    void trafficWorksWithChecksumOffloadOff() {
        client.exec("ethtool", "-K", "eth0", "tx", "off");
        try {
            for (int i = 0; i < 10; i++) {
                assertThat(client.http(WEB, 80).ok()).isTrue();
                assertThat(client.udp(WEB, 53).ok()).isTrue();
            }
        } finally {
            client.exec("ethtool", "-K", "eth0", "tx", "on");
        }
    }

    @Test
    void aPodReachingItselfThroughTheServiceIsServedOverLoopback() {
        Lab.Result r = client.http(SELF, 80);
        assertThat(r.ok()).as(r.output()).isTrue();
        assertThat(r.output()).isEqualTo("client " + client.ip() + "\n");
    }

    @Test
    void aServiceWithoutBackendsIsRefusedInUnderASecond() {
        long start = System.nanoTime();
        Lab.Result r = client.tryExec(10, "curl", "-sS", "--max-time", "5", "http://" + EMPTY + "/");
        long ms = (System.nanoTime() - start) / 1_000_000;
        // curl's exit 7: the connection was refused (ECONNREFUSED from the ICMP port unreachable)
        assertThat(r.status()).as(r.output()).isEqualTo(7);
        assertThat(ms).isLessThan(1000);
    }

    @Test
    void attachIsIdempotentAndDetachLeavesOthersAlone() {
        Pod other = lab.pod("other", "198.18.0.30");
        other.exec("tc", "qdisc", "add", "dev", "eth0", "clsact");
        other.exec("tc", "filter", "add", "dev", "eth0", "egress", "prio", "7", "bpf", "bytecode", "1,6 0 0 0,");
        datapath.attach(other.netns(), "eth0");
        datapath.attach(other.netns(), "eth0");
        assertThat(datapath.attached(other.netns(), "eth0")).hasSize(3);
        datapath.detach(other.netns(), "eth0");
        datapath.detach(other.netns(), "eth0");
        assertThat(datapath.attached(other.netns(), "eth0")).isEmpty();
        assertThat(other.exec("tc", "filter", "show", "dev", "eth0", "egress")).contains("pref 7 bpf").doesNotContain("enilb");
        assertThat(other.exec("tc", "qdisc", "show", "dev", "eth0")).contains("clsact");
    }
}
