package io.enilb.e2e;

import static io.enilb.lab.ServiceYaml.Endpoint.notReady;
import static io.enilb.lab.ServiceYaml.Endpoint.ready;
import static io.enilb.lab.ServiceYaml.service;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.enilb.lab.DaemonProcess;
import io.enilb.lab.HeldFlows;
import io.enilb.lab.Lab;
import io.enilb.lab.LabFixture;
import io.enilb.lab.Pod;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Flow integrity through the real daemon and the real enilb-cni: a conntrack table of
 * 2048 entries that never evicts a live flow, expired entries collected in time, kube-proxy's
 * semantics when an endpoint leaves, ids that never cross Services, and pods that cannot use
 * each other's addresses. Closed flows live 1 s (conntrack.tcp-closing) so that a storm of
 * short connections turns over quickly; the GC runs at least every 2 s.
 */
@org.junit.jupiter.api.Tag("kernel") // root, BPF and network namespaces: left out by -DexcludedGroups=kernel
@ExtendWith(LabFixture.Extension.class)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class FlowIntegrityTest {
    private static final int CT_SIZE = 2048;
    static Lab lab;
    static DaemonProcess daemon;
    static Pod client;
    static Pod intruder;
    static Pod be1;
    static Pod be2;
    static Pod be3;
    static Pod be4;

    @BeforeAll
    static void start(LabFixture fixture) {
        lab = fixture.lab();
        List<Pod> backends = lab.echoBackends(4);
        be1 = backends.get(0);
        be2 = backends.get(1);
        be3 = backends.get(2);
        be4 = backends.get(3);
        client = lab.macvlanPod("client", "198.18.0.10");
        intruder = lab.macvlanPod("intruder", "198.18.0.11");
        daemon = fixture.daemon(Map.of(
                "ENILB_BPF_CT_SIZE", Integer.toString(CT_SIZE),
                // service ids wrap after 15: the recycling test reaches an old id quickly
                "ENILB_BPF_MAX_SERVICES", "16",
                "ENILB_CONNTRACK_TCP_CLOSING", "1",
                "ENILB_CONNTRACK_GC_INTERVAL_MAX", "2"));
        // the per-packet conntrack is under test: flows must take the tc path (socket-lb would
        // translate them at connect, with no conntrack entry)
        daemon.writeConfig("node: {name: node-a}\nsocket-lb: off\n");
        fixture.startDaemonAndAdd(client, intruder);
    }

    /** Puts a TCP Service on port 80 (backends on 8080) and waits until a connection goes through. */
    private static void tcpService(String name, String vip, String extraSpec, List<Pod> backends) {
        daemon.putServices(name + ".yaml", service(name, vip, "TCP", 80, 8080, extraSpec,
                backends.stream().map(b -> ready(b.ip())).toList()));
        if (!backends.isEmpty()) {
            await().atMost(Duration.ofSeconds(10)).until(() -> client.http(vip, 80).ok());
        }
    }

    private static JsonObject count(String vip, int n) {
        return client.count(vip, n);
    }

    /** A value of /metrics: the first sample of {@code name} whose labels contain {@code label}; -1 when none. */
    private static double metric(String name, String label) {
        Matcher m = Pattern.compile("^" + Pattern.quote(name) + "(\\{[^}]*\\})? ([-+0-9.eE]+)$", Pattern.MULTILINE)
                .matcher(daemon.get("/metrics").body());
        while (m.find()) {
            if (m.group(1) == null ? label.isEmpty() : m.group(1).contains(label)) {
                return Double.parseDouble(m.group(2));
            }
        }
        return -1;
    }

    private static double metric(String name) {
        return Math.max(0, metric(name, ""));
    }

    /** Every held TCP flow answered by the backend it was opened to. */
    private static void assertEveryTcpFlowAnswersItsBackend(JsonArray pings) {
        for (Object o : pings) {
            JsonObject p = (JsonObject) o;
            if (p.getString("kind").equals("tcp")) {
                assertThat(p.getString("answer")).as("held connection to %s", p.getString("backend"))
                        .isEqualTo(p.getString("backend"));
            }
        }
    }

    @Test
    @Order(1)
    void idleConnectionsOnFourBackendsSurviveStormsOfShortConnectionsSeveralTimesTheTable() {
        String vip = "198.19.3.1";
        tcpService("idle", vip, "", List.of(be1, be2, be3, be4));
        try (HeldFlows idle = client.flows()) {
            assertThat(idle.tcp(vip, 80, 4)).hasSize(4);
            double runsBefore = metric("enilb_conntrack_gc_runs_total");
            double removedBefore = metric("enilb_conntrack_gc_removed_total");
            long started = System.nanoTime();

            // 2 x 3000 connections, 2 entries each: about 6 times the table
            JsonObject fin = client.storm(vip, 80, 3000, false, 200);
            JsonObject rst = client.storm(vip, 80, 3000, true, 200);

            double runs = metric("enilb_conntrack_gc_runs_total") - runsBefore;
            double removed = metric("enilb_conntrack_gc_removed_total") - removedBefore;
            System.out.printf("storm figures: FIN %s, RST %s; %.0f s; GC runs %.0f, entries removed %.0f, ct_full drops %.0f%n",
                    fin, rst, (System.nanoTime() - started) / 1e9, runs, removed,
                    metric("enilb_conntrack_full_drops_total"));
            assertEveryTcpFlowAnswersItsBackend(idle.ping());
            assertThat(removed).as("the GC removed the closed flows").isGreaterThan(2 * CT_SIZE);
            assertThat(fin.getInteger("ok") + rst.getInteger("ok")).as("storm connections that went through")
                    .isGreaterThan(5700);
        }
    }

    @Test
    @Order(2)
    void aTableFullOfOpenFlowsRefusesNewConnectionsVisiblyAndKeepsTheOldOnes() {
        String vip = "198.19.3.2";
        tcpService("full", vip, "", List.of(be1, be2, be3, be4));
        try (HeldFlows old = client.flows(); HeldFlows crowd = client.flows()) {
            assertThat(old.tcp(vip, 80, 4)).hasSize(4);
            double fullBefore = metric("enilb_datapath_drops_total", "reason=\"ct_full\"");

            JsonObject opened = crowd.open(vip, 80, CT_SIZE);

            assertThat(opened.getInteger("fail")).as("%s", opened).isPositive();
            assertThat(opened.getInteger("ok")).as("%s", opened).isLessThan(CT_SIZE / 2);
            assertThat(metric("enilb_datapath_drops_total", "reason=\"ct_full\"")).isGreaterThan(fullBefore);
            await().atMost(Duration.ofSeconds(10)).until(() -> metric("enilb_conntrack_full_drops_total") > 0);
            await().atMost(Duration.ofSeconds(10)).until(() -> daemon.get("/readyz").body().contains("conntrack table full"));
            assertEveryTcpFlowAnswersItsBackend(old.ping());
            JsonObject crowdPing = crowd.ping().stream().map(o -> (JsonObject) o)
                    .filter(p -> p.getString("kind").equals("open")).findFirst().orElseThrow();
            assertThat(crowdPing.getInteger("open_fail")).as("open flows of a full table keep working").isZero();

            crowd.drop();
            await().atMost(Duration.ofSeconds(20)).until(() -> daemon.readyStatus() == 200);
            assertThat(count(vip, 20).getInteger("fail")).isZero();
            assertEveryTcpFlowAnswersItsBackend(old.ping());
        }
    }

    @Test
    @Order(3)
    void aReadinessFlapAndAnEndpointRemovalKeepEstablishedTcp() {
        String vip = "198.19.3.3";
        tcpService("flap", vip, "", List.of(be1, be2));
        try (HeldFlows held = client.flows()) {
            assertThat(held.tcp(vip, 80, 2)).hasSize(2);

            daemon.putServices("flap.yaml", service("flap", vip, "TCP", 80, 8080, "",
                    List.of(notReady(be1.ip()), ready(be2.ip()))));
            await().atMost(Duration.ofSeconds(5)).until(() -> count(vip, 20).getInteger("be1", 0) == 0);
            assertEveryTcpFlowAnswersItsBackend(held.ping());

            daemon.putServices("flap.yaml", service("flap", vip, "TCP", 80, 8080, "", List.of(ready(be1.ip()))));
            await().atMost(Duration.ofSeconds(5)).until(() -> count(vip, 20).getInteger("be2", 0) == 0);
            assertEveryTcpFlowAnswersItsBackend(held.ping());
        }
    }

    @Test
    @Order(4)
    void udpFlowsMoveToALiveBackendWhenTheirsIsRemoved() {
        String vip = "198.19.3.4";
        daemon.putServices("move.yaml", service("move", vip, "UDP", 53, 5353, "",
                List.of(ready(be1.ip()), ready(be2.ip()), ready(be3.ip()))));
        await().atMost(Duration.ofSeconds(10)).until(() -> client.udp(vip, 53).ok());
        try (HeldFlows held = client.flows()) {
            String first = held.udp(vip, 53);
            List<Pod> rest = List.of(be1, be2, be3).stream().filter(p -> !p.name().equals(first)).toList();
            assertThat(rest).hasSize(2);

            daemon.putServices("move.yaml", service("move", vip, "UDP", 53, 5353, "",
                    rest.stream().map(p -> ready(p.ip())).toList()));
            // the removed pod still answers: only a moved flow stops reaching it
            await().atMost(Duration.ofSeconds(5)).until(() -> {
                String answer = held.ping().getJsonObject(0).getString("answer");
                return rest.stream().anyMatch(p -> p.name().equals(answer));
            });
        }
    }

    @Test
    @Order(5)
    void recycledIdsNeverDeliverAFlowToAnotherServicesPod() {
        String affinity = "  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 300}}";
        tcpService("old-tcp", "198.19.3.5", affinity, List.of(be1));
        daemon.putServices("old-udp.yaml", service("old-udp", "198.19.3.6", "UDP", 53, 5353, "", List.of(ready(be1.ip()))));
        await().atMost(Duration.ofSeconds(10)).until(() -> client.udp("198.19.3.6", 53).ok());
        try (HeldFlows held = client.flows()) {
            assertThat(held.tcp("198.19.3.5", 80, 1)).containsExactly("be1");
            assertThat(held.udp("198.19.3.6", 53)).isEqualTo("be1");
            assertThat(count("198.19.3.5", 5).getInteger("be1")).isEqualTo(5); // affinity entries to be1's id
            int oldTcpId = svcId("198.19.3.5");
            int oldUdpId = svcId("198.19.3.6");

            // both Services go; new ones take their service ids, with other pods
            daemon.removeServices("old-tcp.yaml");
            daemon.removeServices("old-udp.yaml");
            await().atMost(Duration.ofSeconds(5)).until(() -> !daemon.get("/v1/services").body().contains("198.19.3.5"));
            String newTcp = takeId(oldTcpId, "new-tcp", "198.19.3.7", "TCP", affinity);
            String newUdp = takeId(oldUdpId, "new-udp", "198.19.3.8", "UDP", "");
            String label = "service=\"default/" + newTcp + "\"";
            await().atMost(Duration.ofSeconds(5)).until(() -> metric("enilb_service_packets_total", label) >= 0);
            assertThat(metric("enilb_service_packets_total", label)).as("a recycled id starts with zeroed counters").isZero();

            JsonArray pings = held.ping();
            assertThat(pings.getJsonObject(0).getString("answer")).as("old TCP flow").isEqualTo("be1");
            assertThat(pings.getJsonObject(1).getString("answer")).as("old UDP flow").isNotIn("be2", "be3");
            JsonObject hits = count("198.19.3.7", 20);
            assertThat(hits.getInteger("be1", 0)).as("affinity of the old Service's id: %s", hits).isZero();
            assertThat(hits.getInteger("fail")).isZero();
            assertThat(client.udp("198.19.3.8", 53).output()).doesNotContain("be1");
            assertThat(newUdp).isNotEmpty();
        }
    }

    /** The service id /v1/services shows for a frontend on its port. */
    private static int svcId(String vip) {
        JsonObject state = new JsonObject(daemon.get("/v1/services").body());
        for (Object s : state.getJsonArray("services")) {
            JsonObject service = (JsonObject) s;
            if (vip.equals(service.getString("clusterIp"))) {
                Integer id = service.getJsonArray("frontends").getJsonObject(0).getInteger("svcId");
                return id == null ? -1 : id;
            }
        }
        return -1;
    }

    /**
     * Creates Service {@code name} (backends be2 and be3) again and again until nat-map hands it
     * {@code id} (ids roll over 1..15 here); returns its name.
     */
    private static String takeId(int id, String name, String vip, String protocol, String extraSpec) {
        int port = protocol.equals("TCP") ? 80 : 53;
        int target = protocol.equals("TCP") ? 8080 : 5353;
        for (int attempt = 0; attempt < 40; attempt++) {
            daemon.putServices(name + ".yaml", service(name, vip, protocol, port, target, extraSpec,
                    List.of(ready(be2.ip()), ready(be3.ip()))));
            await().atMost(Duration.ofSeconds(5)).until(() -> svcId(vip) > 0);
            if (svcId(vip) == id) {
                return name;
            }
            daemon.removeServices(name + ".yaml");
            await().atMost(Duration.ofSeconds(5)).until(() -> svcId(vip) < 0);
        }
        throw new AssertionError("service id " + id + " never came back");
    }

    @Test
    @Order(6)
    void aSpoofedSourceFromOnePodCannotDisturbAnotherPodsFlow() {
        String vip = "198.19.3.9";
        tcpService("victim", vip, "", List.of(be1));
        daemon.putServices("victim-udp.yaml", service("victim-udp", "198.19.3.10", "UDP", 53, 5353, "", List.of(ready(be1.ip()))));
        try (HeldFlows victim = client.flows(); HeldFlows spoofer = intruder.flows()) {
            assertThat(victim.tcp(vip, 80, 1)).containsExactly("be1");
            int victimPort = victim.ping().getJsonObject(0).getInteger("sport");
            double spoofedBefore = metric("enilb_datapath_drops_total", "reason=\"spoofed\"");

            // the intruder sends as the client, from the client's very flow tuple, and from another port
            spoofer.bind(client.ip(), victimPort);
            // dropped on the intruder's NIC: its SYNs go unanswered (not refused by its own stack)
            assertThat(spoofer.open(vip, 80, 1)).isEqualTo(new JsonObject().put("ok", 0).put("fail", 1)
                    .put("errors", new JsonArray().add("timed out")));
            spoofer.bind(client.ip(), 0);
            assertThat(spoofer.open(vip, 80, 1).getInteger("ok")).isZero();
            assertThat(spoofer.udp("198.19.3.10", 53)).isEqualTo("error: timed out");

            assertThat(metric("enilb_datapath_drops_total", "reason=\"spoofed\"")).isGreaterThan(spoofedBefore);
            assertEveryTcpFlowAnswersItsBackend(victim.ping());
            assertThat(count(vip, 5).getInteger("fail")).isZero();
            assertThat(intruder.http(vip, 80).ok()).as("the intruder's own address still works").isTrue();
        }
    }
}
