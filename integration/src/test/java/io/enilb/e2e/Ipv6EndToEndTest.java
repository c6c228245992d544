package io.enilb.e2e;

import static io.enilb.lab.ServiceYaml.Endpoint.notReady;
import static io.enilb.lab.ServiceYaml.Endpoint.ready;
import static io.enilb.lab.ServiceYaml.service;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.enilb.bpf.BpfMap;
import io.enilb.bpf.BpfObject.MapNames;
import io.enilb.bpf.Ipv6;
import io.enilb.bpf.StructCodec;
import io.enilb.bpf.Structs.FrontendPrefix6;
import io.enilb.lab.CniPlugin;
import io.enilb.lab.DaemonProcess;
import io.enilb.lab.HeldFlows;
import io.enilb.lab.Lab;
import io.enilb.lab.LabFixture;
import io.enilb.lab.Pod;
import io.enilb.lab.ServiceYaml.Endpoint;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * IPv6 and dual-stack Services from the outside: the real daemon process on the file source,
 * the real enilb-cni invoked with IPv6 (and dual-stack) prevResults, pods with their own NIC on
 * the lab fabric, real traffic. Pods in 2001:db8:18::/64, Service IPs in 2001:db8:19::/108.
 */
@org.junit.jupiter.api.Tag("kernel") // root, BPF and network namespaces: left out by -DexcludedGroups=kernel
@ExtendWith(LabFixture.Extension.class)
class Ipv6EndToEndTest {
    static Lab lab;
    static DaemonProcess daemon;
    /** IPv6-only client (macvlan), also a backend of its own self6 Service. */
    static Pod client6;
    /** Dual-stack client (macvlan). */
    static Pod dual;
    static List<Pod> backends = new ArrayList<>();

    @BeforeAll
    static void start(LabFixture fixture) {
        lab = fixture.lab();
        for (int i = 1; i <= 3; i++) {
            Pod be = lab.pod("be" + i, "198.18.0." + (20 + i), "2001:db8:18::" + (20 + i));
            lab.echoServer(be.namespace(), be.name(), 8080, 5353);
            backends.add(be);
        }
        client6 = lab.macvlanPod("client6", null, "2001:db8:18::10");
        lab.echoServer(client6.namespace(), client6.name(), 8080, 5353);
        dual = lab.macvlanPod("dual", "198.18.0.11", "2001:db8:18::11");
        daemon = fixture.daemon(Map.of());
        daemon.writeConfig("node: {name: node-a}\n");
        daemon.putServices("web6.yaml", service("web6", "2001:db8:19::1", "TCP", 80, 8080, "", v6(backends)));
        daemon.putServices("dns6.yaml", service("dns6", "2001:db8:19::2", "UDP", 53, 5353, "",
                v6(backends.subList(0, 1))));
        daemon.putServices("self6.yaml", service("self6", "2001:db8:19::3", "TCP", 80, 8080, "",
                List.of(ready(client6.ip6()))));
        daemon.putServices("empty6.yaml", service("empty6", "2001:db8:19::4", "TCP", 80, 8080, "", List.of()));
        daemon.putServices("both.yaml", service("both", List.of("198.19.1.20", "2001:db8:19::20"), "TCP", 80, 8080, "",
                both(backends.subList(0, 2))));
        fixture.startDaemonAndAdd(client6, dual);
    }

    private static List<Endpoint> v6(List<Pod> pods) {
        return pods.stream().map(p -> ready(p.ip6())).toList();
    }

    private static List<Endpoint> both(List<Pod> pods) {
        return pods.stream().flatMap(p -> java.util.stream.Stream.of(ready(p.ip()), ready(p.ip6()))).toList();
    }

    private static JsonObject count(Pod from, String ip, int n) {
        return from.count(ip, n);
    }

    @Test
    void anIpv6OnlyPodReachesAnIpv6ServiceAndEveryBackendAnswersAsItself() {
        JsonObject hits = count(client6, "2001:db8:19::1", 150);
        assertThat(hits.getInteger("fail")).isZero();
        for (Pod be : backends) {
            assertThat(hits.getInteger(be.name(), 0)).as("%s in %s", be.name(), hits).isGreaterThanOrEqualTo(20);
        }
        // the backend sees the pod's own IPv6 address: DNAT only, no source rewrite
        assertThat(client6.http("2001:db8:19::1", 80).output()).endsWith(" " + client6.ip6() + "\n");
    }

    @Test
    void aDualStackPodReachesBothClusterIpsOfADualStackServiceEachOverItsFamily() {
        Lab.Result r4 = dual.http("198.19.1.20", 80);
        Lab.Result r6 = dual.http("2001:db8:19::20", 80);
        assertThat(r4.ok()).as(r4.output()).isTrue();
        assertThat(r6.ok()).as(r6.output()).isTrue();
        // each family's ClusterIP is served by that family's endpoints: the backend sees the client's address of it
        assertThat(r4.output()).matches("be[12] " + dual.ip() + "\n");
        assertThat(r6.output()).matches("be[12] " + dual.ip6() + "\n");
        assertThat(count(dual, "2001:db8:19::20", 60).getInteger("fail")).isZero();
        assertThat(count(dual, "198.19.1.20", 60).getInteger("fail")).isZero();

        JsonObject service = serviceState("default/both");
        assertThat(service.getJsonArray("clusterIps")).isEqualTo(new JsonArray().add("198.19.1.20").add("2001:db8:19::20"));
        JsonArray frontends = service.getJsonArray("frontends");
        assertThat(frontends.stream().map(f -> ((JsonObject) f).getString("frontend")))
                .containsExactly("198.19.1.20:80/TCP", "[2001:db8:19::20]:80/TCP");
        assertThat(frontends.stream().map(f -> ((JsonObject) f).getString("state"))).containsOnly("programmed");
        assertThat(frontends.getJsonObject(1).getJsonArray("backends").stream()
                .map(b -> ((JsonObject) b).getString("ip")))
                .containsExactly(backends.get(0).ip6(), backends.get(1).ip6());
        assertThat(frontends.getJsonObject(0).getInteger("svcId"))
                .isNotEqualTo(frontends.getJsonObject(1).getInteger("svcId"));
        String metrics = daemon.get("/metrics").body();
        assertThat(metrics).contains("frontend=\"[2001:db8:19::20]:80/TCP\"").contains("frontend=\"198.19.1.20:80/TCP\"");
        JsonObject endpoints = new JsonObject(daemon.get("/v1/endpoints").body());
        assertThat(endpoints.getJsonArray("pods").stream().map(p -> ((JsonObject) p).getJsonArray("ips")))
                .contains(new JsonArray().add(dual.ip()).add(dual.ip6()), new JsonArray().add(client6.ip6()));
    }

    /**
     * An IPv6 connection and an IPv6 reject appear in GET /v1/flows and in enilbctl flows with
     * their IPv6 addresses (bracketed with their ports), named with pod, Service and backend.
     */
    @Test
    void ipv6FlowsAppearInV1FlowsAndEnilbctlWithTheirAddresses() throws Exception {
        Lab.Result r = client6.tryExec(10, "curl", "-sS", "--max-time", "5", "--local-port", "42001",
                "http://[2001:db8:19::1]/");
        assertThat(r.ok()).as(r.output()).isTrue();
        Pod backend = backends.stream().filter(b -> r.output().startsWith(b.name() + " ")).findFirst().orElseThrow();
        client6.tryExec(10, "curl", "-sS", "--max-time", "5", "--local-port", "42002", "http://[2001:db8:19::4]/");
        String pod = CniPlugin.containerId(client6);

        // other tests of this class open flows of their own: this test's are told by their client port
        await().atMost(Duration.ofSeconds(10)).until(() -> withClientPort(flows("service=default/empty6"), 42002) != null);
        JsonObject e = withClientPort(flows("service=default/web6&pod=" + pod), 42001);
        assertThat(e).as("%s", flows("service=default/web6")).isNotNull();
        assertThat(e.getString("verdict")).isEqualTo("new");
        assertThat(e.getString("client")).isEqualTo("[" + client6.ip6() + "]:42001");
        assertThat(e.getString("frontend")).isEqualTo("[2001:db8:19::1]:80/tcp");
        assertThat(e.getString("backend")).isEqualTo("[" + backend.ip6() + "]:8080");
        assertThat(e.getString("pod")).isEqualTo(pod);
        JsonObject reject = withClientPort(flows("service=default/empty6"), 42002);
        assertThat(reject.getString("verdict")).isEqualTo("reject");
        assertThat(reject.getString("reason")).isEqualTo("NO_BACKEND");
        assertThat(reject.getString("frontend")).isEqualTo("[2001:db8:19::4]:80/tcp");
        assertThat(reject.getString("pod")).isEqualTo(pod);
        // the pod filter takes an IPv6 address as well
        assertThat(withClientPort(flows("pod=" + client6.ip6() + "&service=default/empty6"), 42002)).isNotNull();

        Process ctl = new ProcessBuilder(DaemonProcess.distribution().resolve("bin/enilbctl").toString(),
                "--health", "127.0.0.1:" + daemon.healthPort(), "flows", "--service", "default/web6")
                .redirectErrorStream(true).start();
        String out = new String(ctl.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertThat(ctl.waitFor(30, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
        assertThat(ctl.exitValue()).as(out).isZero();
        assertThat(out.lines().filter(l -> l.contains("[" + client6.ip6() + "]:42001"))).singleElement().asString()
                .contains("new", "default/web6", "[2001:db8:19::1]:80/tcp", "[" + backend.ip6() + "]:8080 (random)");
    }

    /** The flow whose client is client6 on {@code port}, or null. */
    private static JsonObject withClientPort(JsonArray flows, int port) {
        return flows.stream().map(JsonObject.class::cast)
                .filter(f -> f.getString("client").equals("[" + client6.ip6() + "]:" + port)).findFirst().orElse(null);
    }

    private static JsonArray flows(String query) {
        DaemonProcess.Response r = daemon.get("/v1/flows?" + query);
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        return new JsonObject(r.body()).getJsonArray("flows");
    }

    /** The lab's service-cidr6 (DaemonProcess) reaches the datapath: the IPv6 fast path for foreign TCP. */
    @Test
    void theIpv6ServiceCidrIsWrittenIntoTheDatapathsConfig() {
        try (BpfMap<Integer, FrontendPrefix6> config6 = BpfMap.openPinned(daemon.pinRoot().resolve(MapNames.CONFIG6),
                StructCodec.U32, FrontendPrefix6.CODEC)) {
            assertThat(config6.get(0)).contains(FrontendPrefix6.of(Ipv6.parse("2001:db8:19::"), 108));
        }
    }

    @Test
    void ipv6SelfAccessIsServedWithThePodsOwnAddressAsClient() {
        Lab.Result r = client6.http("2001:db8:19::3", 80);
        assertThat(r.ok()).as(r.output()).isTrue();
        assertThat(r.output()).isEqualTo("client6 " + client6.ip6() + "\n");
    }

    @Test
    void udpOverIpv6() {
        Lab.Result r = client6.udp("2001:db8:19::2", 53);
        assertThat(r.ok()).as(r.output()).isTrue();
        assertThat(r.output().strip()).isEqualTo("be1 " + client6.ip6());
    }

    /**
     * The datapath answers the SYN with a reset from the ClusterIP and connect() fails with
     * ECONNREFUSED at once (not after the retransmission a second later, which is what an ICMPv6
     * port unreachable would cost: see reject6_tcp_reset). 500 ms: generous on a loaded machine,
     * still failing at 1 s.
     */
    @Test
    void anIpv6ServiceWithoutEndpointsIsRefusedAtOnce() {
        Lab.Result r = client6.tryExec(10, "python3", "-c", "import socket, time\n"
                + "s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)\ns.settimeout(4)\nt = time.monotonic()\n"
                + "try:\n    s.connect(('2001:db8:19::4', 80))\n    print('connected')\n"
                + "except ConnectionRefusedError:\n    print('refused %.1f' % ((time.monotonic() - t) * 1000))\n"
                + "except socket.timeout:\n    print('timed out')\n");
        assertThat(r.output().strip()).as("ECONNREFUSED: the datapath's reset").startsWith("refused ");
        double ms = Double.parseDouble(r.output().strip().substring("refused ".length()));
        System.out.printf("IPv6 ECONNREFUSED from a Service without endpoints: %.1f ms (connect())%n", ms);
        assertThat(ms).as("ms from connect() to ECONNREFUSED").isLessThan(500);
    }

    @Test
    void aBackendsIcmpv6PortUnreachableReachesTheClientAsFromTheClusterIp() {
        // UDP Service whose backend listens on no port 5999: the backend's kernel answers with an
        // ICMPv6 port unreachable, which only a connected socket of the client sees as ECONNREFUSED
        // if the error came back translated (from the ClusterIP, quoting the original datagram)
        daemon.putServices("closed6.yaml", service("closed6", "2001:db8:19::7", "UDP", 53, 5999, "",
                v6(backends.subList(0, 1))));
        awaitProgrammed("default/closed6");
        Lab.Result r = client6.tryExec(10, "python3", "-c", "import socket\n"
                + "s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\ns.settimeout(3)\n"
                + "s.connect(('2001:db8:19::7', 53))\ns.send(b'q')\n"
                + "try:\n    s.recv(100)\n    print('answered')\n"
                + "except ConnectionRefusedError:\n    print('refused')\n"
                + "except socket.timeout:\n    print('timed out')\n");
        assertThat(r.output().strip()).isEqualTo("refused");
    }

    @Test
    void clientIpAffinityOverIpv6KeepsOnePodOnOneBackend() {
        daemon.putServices("aff6.yaml", service("aff6", "2001:db8:19::5", "TCP", 80, 8080,
                "  sessionAffinity: ClientIP", v6(backends)));
        awaitProgrammed("default/aff6");
        JsonObject hits = count(client6, "2001:db8:19::5", 40);
        assertThat(hits.getInteger("fail")).isZero();
        assertThat(hits.fieldNames().stream().filter(k -> !k.equals("fail")).toList()).as("%s", hits).hasSize(1);
    }

    @Test
    void aReadinessFlapKeepsAnEstablishedIpv6Connection() {
        String vip = "2001:db8:19::6";
        Function<List<Endpoint>, String> flap = eps -> service("flap6", vip, "TCP", 80, 8080, "", eps);
        Pod be1 = backends.get(0);
        Pod be2 = backends.get(1);
        daemon.putServices("flap6.yaml", flap.apply(List.of(ready(be1.ip6()))));
        awaitProgrammed("default/flap6");
        try (HeldFlows held = client6.flows()) {
            assertThat(held.tcp(vip, 80, 1)).containsExactly("be1");

            daemon.putServices("flap6.yaml", flap.apply(List.of(notReady(be1.ip6()), ready(be2.ip6()))));
            await().atMost(Duration.ofSeconds(5)).until(() -> count(client6, vip, 10).getInteger("be1", 0) == 0);
            assertHeldAnswer(held.ping(), "be1");

            daemon.putServices("flap6.yaml", flap.apply(List.of(ready(be1.ip6()), ready(be2.ip6()))));
            await().atMost(Duration.ofSeconds(5)).until(() -> count(client6, vip, 20).getInteger("be1", 0) > 0);
            assertHeldAnswer(held.ping(), "be1");
        }
    }

    private static void assertHeldAnswer(JsonArray pings, String backend) {
        JsonObject tcp = pings.stream().map(JsonObject.class::cast).filter(p -> p.getString("kind").equals("tcp"))
                .findFirst().orElseThrow();
        assertThat(tcp.getString("answer")).as("held connection to %s", backend).isEqualTo(backend);
    }

    private static JsonObject serviceState(String key) {
        JsonObject state = new JsonObject(daemon.get("/v1/services").body());
        return state.getJsonArray("services").stream().map(JsonObject.class::cast)
                .filter(s -> key.equals(s.getString("service"))).findFirst().orElse(null);
    }

    private static void awaitProgrammed(String key) {
        await().atMost(Duration.ofSeconds(5)).until(() -> {
            JsonObject s = serviceState(key);
            return s != null && s.getJsonArray("frontends").stream()
                    .allMatch(f -> "programmed".equals(((JsonObject) f).getString("state")));
        });
    }
}
