package io.enilb.e2e;

import static io.enilb.lab.ServiceYaml.Endpoint.ready;
import static io.enilb.lab.ServiceYaml.Endpoint.terminating;
import static io.enilb.lab.ServiceYaml.service;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

import io.enilb.lab.DaemonProcess;
import io.enilb.lab.Lab;
import io.enilb.lab.LabFixture;
import io.enilb.lab.Pod;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * enilb from the outside: the real daemon process on the file source, the real enilb-cni
 * invoked for the client pod, pods with their own NIC on the lab fabric, real traffic.
 */
@org.junit.jupiter.api.Tag("kernel") // root, BPF and network namespaces: left out by -DexcludedGroups=kernel
@ExtendWith(LabFixture.Extension.class)
class EndToEndTest {
    static Lab lab;
    static DaemonProcess daemon;
    static Pod client;
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
        lab.echoServer(client.namespace(), client.name(), 8080, 5353);
        daemon = fixture.daemon(Map.of());
        daemon.writeConfig("node: {name: node-a}\n");
        daemon.putServices("web.yaml", service("web", "198.19.1.1", "TCP", 80, 8080, "",
                List.of(ready(be1.ip()), ready(be2.ip()), ready(be3.ip()))));
        daemon.putServices("dns.yaml", service("dns", "198.19.1.2", "UDP", 53, 5353, "", List.of(ready(be1.ip()))));
        daemon.putServices("self.yaml", service("self", "198.19.1.3", "TCP", 80, 8080, "", List.of(ready(client.ip()))));
        daemon.putServices("empty.yaml", service("empty", "198.19.1.4", "TCP", 80, 8080, "", List.of()));
        fixture.startDaemonAndAdd(client);
    }

    static JsonObject count(String ip, int n) {
        return client.count(ip, n);
    }

    /**
     * socket-lb's default, auto, attaches the socket hooks on a host with cgroup v2 (this one);
     * bpf.tc-attach's, auto, puts the pods' programs on as tcx links on a kernel that has them (this one).
     */
    @Test
    void theDefaultConfigurationTranslatesAtTheSocket() {
        JsonObject programs = new JsonObject(daemon.get("/v1/programs").body());
        assertThat(programs.getJsonArray("socketHooks").stream().map(h -> ((JsonObject) h).getString("hook")).toList())
                .containsExactlyInAnyOrder("connect4", "sendmsg4", "recvmsg4", "getpeername4", "connect6", "sendmsg6",
                        "recvmsg6", "getpeername6");
        assertThat(daemon.readyStatus()).isEqualTo(200);
        // the pods' programs move to links right after their ADD is answered
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(new JsonObject(
                daemon.get("/v1/programs").body()).getString("tcAttach"))
                .as("this kernel has tcx: the default puts links on the pods").isEqualTo("tcx"));
    }

    @Test
    void threeBackendsEachGetAtLeastAFifthOf300Connections() {
        JsonObject hits = count("198.19.1.1", 300);
        assertThat(hits.getInteger("fail")).isZero();
        for (String be : List.of("be1", "be2", "be3")) {
            assertThat(hits.getInteger(be, 0)).as("%s in %s", be, hits).isGreaterThanOrEqualTo(60);
        }
    }

    @Test
    void udpRequestResponse() {
        Lab.Result r = client.udp("198.19.1.2", 53);
        assertThat(r.ok()).as(r.output()).isTrue();
        assertThat(r.output().strip()).isEqualTo("be1 " + client.ip());
    }

    @Test
    void selfAccessIsServedWithThePodsOwnAddressAsClient() {
        Lab.Result r = client.http("198.19.1.3", 80);
        assertThat(r.ok()).as(r.output()).isTrue();
        assertThat(r.output()).isEqualTo("client " + client.ip() + "\n");
    }

    @Test
    void aServiceWithoutEndpointsIsRefusedAtOnce() {
        long start = System.nanoTime();
        Lab.Result r = client.tryExec(10, "curl", "-sS", "--max-time", "5", "http://198.19.1.4/");
        assertThat(r.status()).as(r.output()).isEqualTo(7);
        assertThat((System.nanoTime() - start) / 1_000_000).isLessThan(1000);
    }

    @Test
    void removedEndpointStopsTakingNewConnectionsWhileEstablishedOnesToOthersKeepWorking() {
        daemon.putServices("rm.yaml", service("rm", "198.19.1.10", "TCP", 80, 8080, "",
                List.of(ready(be1.ip()), ready(be2.ip()), ready(be3.ip()))));
        await().atMost(Duration.ofSeconds(5)).until(() -> count("198.19.1.10", 30).getInteger("be3", 0) > 0);
        CompletableFuture<Lab.Result> streams = CompletableFuture.supplyAsync(
                () -> client.load(60, "stream", "198.19.1.10", "80", "9", "4"));
        // to the ClusterIP as tc translates them, to a backend when translated at connect (socket-lb)
        await().atMost(Duration.ofSeconds(10)).until(() -> client.exec("ss", "-Htn", "state", "established",
                "( dst 198.19.1.10 or dst " + be1.ip() + " or dst " + be2.ip() + " or dst " + be3.ip() + " )")
                .lines().count() == 9);
        daemon.putServices("rm.yaml", service("rm", "198.19.1.10", "TCP", 80, 8080, "",
                List.of(ready(be1.ip()), ready(be2.ip()))));
        long changed = System.nanoTime();
        await().atMost(Duration.ofSeconds(1)).pollInterval(Duration.ofMillis(20))
                .until(() -> count("198.19.1.10", 10).getInteger("be3", 0) == 0);
        assertThat((System.nanoTime() - changed) / 1_000_000).isLessThan(1000);
        assertThat(count("198.19.1.10", 100).getInteger("be3", 0)).isZero();
        JsonArray conns = new JsonArray(streams.join().output().lines().filter(l -> l.startsWith("[")).findFirst().orElseThrow());
        for (Object o : conns) {
            JsonObject c = (JsonObject) o;
            if (!c.getString("backend").equals("be3")) {
                assertThat(c.getInteger("fail")).as("long-lived connection to %s", c.getString("backend")).isZero();
                assertThat(c.getInteger("ok")).isGreaterThan(10);
            }
        }
    }

    @Test
    void aNewBackendGetsTrafficWithinASecond() {
        daemon.putServices("up.yaml", service("up", "198.19.1.11", "TCP", 80, 8080, "", List.of(ready(be1.ip()))));
        await().atMost(Duration.ofSeconds(5)).until(() -> count("198.19.1.11", 5).getInteger("be1", 0) == 5);
        daemon.putServices("up.yaml", service("up", "198.19.1.11", "TCP", 80, 8080, "",
                List.of(ready(be1.ip()), ready(be4.ip()))));
        long changed = System.nanoTime();
        await().atMost(Duration.ofSeconds(2)).pollInterval(Duration.ofMillis(20))
                .until(() -> count("198.19.1.11", 10).getInteger("be4", 0) > 0);
        assertThat((System.nanoTime() - changed) / 1_000_000).isLessThan(1000);
    }

    @Test
    void sessionAffinityKeepsAClientOnOneBackend() {
        daemon.putServices("aff.yaml", service("aff", "198.19.1.12", "TCP", 80, 8080,
                "  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 30}}",
                List.of(ready(be1.ip()), ready(be2.ip()), ready(be3.ip()))));
        await().atMost(Duration.ofSeconds(5)).until(() -> count("198.19.1.12", 1).getInteger("fail") == 0);
        JsonObject hits = count("198.19.1.12", 60);
        assertThat(hits.getInteger("fail")).isZero();
        assertThat(hits.fieldNames()).as("%s", hits).hasSize(2); // "fail" and one backend
    }

    @Test
    void terminatingEndpointsServeOnlyWhenNoneIsReady() {
        daemon.putServices("term.yaml", service("term", "198.19.1.13", "TCP", 80, 8080, "",
                List.of(ready(be1.ip()), terminating(be2.ip()))));
        await().atMost(Duration.ofSeconds(5)).until(() -> count("198.19.1.13", 1).getInteger("fail") == 0);
        JsonObject hits = count("198.19.1.13", 40);
        assertThat(hits.getInteger("be1", 0)).as("%s", hits).isEqualTo(40);
        assertThat(hits.getInteger("be2", 0)).as("%s", hits).isZero();
        daemon.putServices("term.yaml", service("term", "198.19.1.13", "TCP", 80, 8080, "",
                List.of(terminating(be2.ip()))));
        await().atMost(Duration.ofSeconds(2)).until(() -> count("198.19.1.13", 5).getInteger("be2", 0) == 5);
    }

    @Test
    void internalTrafficPolicyLocalUsesOnlyThisNodesEndpoints() {
        daemon.putServices("local.yaml", service("local", "198.19.1.14", "TCP", 80, 8080,
                "  internalTrafficPolicy: Local",
                List.of(ready(be1.ip()).onNode("node-a"), ready(be2.ip()).onNode("node-b"))));
        await().atMost(Duration.ofSeconds(5)).until(() -> count("198.19.1.14", 1).getInteger("fail") == 0);
        assertThat(count("198.19.1.14", 40).getInteger("be1", 0)).isEqualTo(40);
    }

    @Test
    void aDeletedServiceIsNoLongerTranslated() {
        daemon.putServices("gone.yaml", service("gone", "198.19.1.15", "TCP", 80, 8080, "", List.of(ready(be1.ip()))));
        await().atMost(Duration.ofSeconds(5)).until(() -> count("198.19.1.15", 1).getInteger("be1", 0) == 1);
        daemon.removeServices("gone.yaml");
        await().atMost(Duration.ofSeconds(2)).until(() -> !daemon.get("/v1/services").body().contains("198.19.1.15"));
        Lab.Result r = client.tryExec(10, "curl", "-sS", "--max-time", "1", "http://198.19.1.15/");
        assertThat(r.ok()).as("no translation: nothing answers the bare Service IP").isFalse();
    }
}
