package io.enilb.e2e;

import static io.enilb.lab.ServiceYaml.Endpoint.ready;
import static io.enilb.lab.ServiceYaml.Endpoint.terminating;
import static io.enilb.lab.ServiceYaml.service;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import io.enilb.bpf.BpfMap;
import io.enilb.bpf.BpfObject.MapNames;
import io.enilb.bpf.Netns;
import io.enilb.bpf.NetnsRunner;
import io.enilb.bpf.StructCodec;
import io.enilb.bpf.Structs.CtKey;
import io.enilb.bpf.Structs.CtValue;
import io.enilb.bpf.Structs.SockScope;
import io.enilb.lab.CniPlugin;
import io.enilb.lab.DaemonProcess;
import io.enilb.lab.Lab;
import io.enilb.lab.Pod;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * A pod's view of Services through the real daemon and the real enilb-cni, with socket
 * translation on ({@link SocketLbLabTest}) and off ({@link SocketLbOffLabTest}): the same
 * behaviour either way (peer address, getpeername, UDP both ways, reject at connect, affinity,
 * self-access, terminating, DEL), plus what tells the two paths apart (where the translation
 * happened: the kernel's own peer of the socket, conntrack, the wire).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@org.junit.jupiter.api.Tag("kernel") // root, BPF and network namespaces: left out by -DexcludedGroups=kernel
// (JUnit's Tag is inherited: SocketLbLabTest and SocketLbOffLabTest carry it too)
abstract class ServicePathLab {
    static final String WEB = "198.19.7.1";
    static final String DNS = "198.19.7.2";
    static final String SELF = "198.19.7.3";
    static final String EMPTY = "198.19.7.4";
    static final String EMPTY_UDP = "198.19.7.5";

    Lab lab;
    DaemonProcess daemon;
    Pod client;
    Pod be1;
    Pod be2;
    Pod be3;
    long clientCookie;

    /** The socket-lb setting this run uses. */
    abstract String socketLb();

    /** Whether Services are translated at the socket in this run (else per packet by tc). */
    abstract boolean atSocket();

    @BeforeAll
    void start() {
        lab = new Lab();
        List<Pod> backends = lab.echoBackends(3);
        be1 = backends.get(0);
        be2 = backends.get(1);
        be3 = backends.get(2);
        client = lab.macvlanPod("client", "198.18.0.10");
        lab.echoServer(client.namespace(), client.name(), 8080, 5353);
        daemon = new DaemonProcess(DaemonProcess.distribution(), Map.of());
        daemon.writeConfig("node: {name: node-a}\nsocket-lb: " + socketLb() + "\n");
        daemon.putServices("web.yaml", service("web", WEB, "TCP", 80, 8080, "",
                List.of(ready(be1.ip()), ready(be2.ip()), ready(be3.ip()))));
        daemon.putServices("dns.yaml", service("dns", DNS, "UDP", 53, 5353, "", List.of(ready(be1.ip()))));
        daemon.putServices("self.yaml", service("self", SELF, "TCP", 80, 8080, "", List.of(ready(client.ip()))));
        daemon.putServices("empty.yaml", service("empty", EMPTY, "TCP", 80, 8080, "", List.of()));
        daemon.putServices("empty-udp.yaml", service("empty-udp", EMPTY_UDP, "UDP", 53, 5353, "", List.of()));
        daemon.startAndAwaitReady(Duration.ofSeconds(60));
        CniPlugin.Run add = CniPlugin.of(DaemonProcess.distribution()).add(client, daemon.socket());
        assertThat(add.status()).as(add.stdout()).isZero();
        try (NetnsRunner runner = new NetnsRunner()) {
            clientCookie = new Netns(runner).cookieOf(client.netns());
        }
    }

    @AfterAll
    void stop() {
        if (daemon != null) {
            daemon.close();
        }
        if (lab != null) {
            lab.close();
            assertThat(lab.remainingNamespaces()).isEmpty();
        }
    }

    @Test
    void programsShowTheSocketHooksExactlyWhenOn() {
        JsonObject programs = new JsonObject(daemon.get("/v1/programs").body());
        List<String> hooks = programs.getJsonArray("socketHooks").stream()
                .map(h -> ((JsonObject) h).getString("hook")).toList();
        if (atSocket()) {
            assertThat(hooks).containsExactlyInAnyOrder("connect4", "sendmsg4", "recvmsg4", "getpeername4");
        } else {
            assertThat(hooks).isEmpty();
        }
        assertThat(daemon.readyStatus()).isEqualTo(200);
    }

    @Test
    void tcpThroughAClusterIpLooksLikeTheClusterIpToTheClientAndLikeThePodToTheBackend() {
        long ctBefore = conntrackEntriesTo(WEB);
        Lab.Capture wire = lab.capture(lab.fabric(), "br0", "tcp and host " + client.ip());
        JsonObject seen = client.probe("tcp", WEB, "80");
        List<String> packets = wire.stop();

        assertThat(seen.getString("peer")).isEqualTo(WEB + ":80");
        assertThat(seen.getString("body")).matches("be[123] " + client.ip().replace(".", "\\."));
        String backend = backendIp(seen.getString("body").split(" ")[0]);
        // on the wire: the backend's address from the very first SYN, never the ClusterIP
        assertThat(packets).as("%s", packets).isNotEmpty();
        assertThat(packets.get(0)).contains(client.ip() + ".").contains("> " + backend + ".8080:").contains("[S]");
        assertThat(packets).noneMatch(p -> p.contains(WEB));
        if (atSocket()) {
            // the socket itself was sent to the backend; only getpeername shows the Service
            assertThat(seen.getString("kernelPeer")).isEqualTo(backend + ":8080");
            assertThat(conntrackEntriesTo(WEB)).as("no conntrack entry: no packet was translated")
                    .isEqualTo(ctBefore);
        } else {
            assertThat(seen.getString("kernelPeer")).isEqualTo(WEB + ":80");
            assertThat(conntrackEntriesTo(WEB)).isGreaterThan(ctBefore);
        }
    }

    @Test
    void unconnectedUdpAnswersComeFromTheClusterIp() {
        JsonObject seen = client.probe("udp", DNS, "53");
        assertThat(seen.getString("body")).isEqualTo("be1 " + client.ip());
        assertThat(seen.getString("from")).isEqualTo(DNS + ":53");
    }

    @Test
    void connectedUdpAnswersComeFromTheClusterIpAndGetpeernameShowsIt() {
        JsonObject seen = client.probe("udp-connected", DNS, "53");
        assertThat(seen.getString("body")).isEqualTo("be1 " + client.ip());
        assertThat(seen.getString("from")).isEqualTo(DNS + ":53");
        assertThat(seen.getString("peer")).isEqualTo(DNS + ":53");
    }

    @Test
    void aServiceWithoutEndpointsIsRefusedAtConnect() {
        JsonObject tcp = client.probe("connect", EMPTY, "80", "tcp");
        assertThat(tcp.getString("error")).isEqualTo("ECONNREFUSED");
        assertThat(tcp.getLong("ms")).isLessThan(1000);
        System.out.printf("socket-lb %s: connect() to a Service without endpoints refused after %d ms%n", socketLb(),
                tcp.getLong("ms"));
        if (atSocket()) {
            // at the socket even a UDP connect() fails at once; tc can only answer the first datagram
            assertThat(client.probe("connect", EMPTY_UDP, "53", "udp").getString("error")).isEqualTo("ECONNREFUSED");
        }
    }

    @Test
    void selfAccessIsServedWithThePodsOwnAddressAsClient() {
        JsonObject seen = client.probe("tcp", SELF, "80");
        assertThat(seen.getString("body")).isEqualTo("client " + client.ip());
        assertThat(seen.getString("peer")).isEqualTo(SELF + ":80");
    }

    @Test
    void sessionAffinityKeepsAClientOnOneBackend() {
        daemon.putServices("aff.yaml", service("aff", "198.19.7.12", "TCP", 80, 8080,
                "  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 30}}",
                List.of(ready(be1.ip()), ready(be2.ip()), ready(be3.ip()))));
        await().atMost(Duration.ofSeconds(5)).until(() -> count("198.19.7.12", 1).getInteger("fail") == 0);
        JsonObject hits = count("198.19.7.12", 40);
        assertThat(hits.getInteger("fail")).isZero();
        assertThat(hits.fieldNames()).as("%s", hits).hasSize(2); // "fail" and one backend
    }

    @Test
    void terminatingEndpointsTakeNoNewConnectionsWhileAReadyOneExists() {
        daemon.putServices("term.yaml", service("term", "198.19.7.13", "TCP", 80, 8080, "",
                List.of(ready(be1.ip()), terminating(be2.ip()))));
        await().atMost(Duration.ofSeconds(5)).until(() -> count("198.19.7.13", 1).getInteger("fail") == 0);
        JsonObject hits = count("198.19.7.13", 30);
        assertThat(hits.getInteger("be1", 0)).as("%s", hits).isEqualTo(30);
        daemon.putServices("term.yaml", service("term", "198.19.7.13", "TCP", 80, 8080, "",
                List.of(terminating(be2.ip()))));
        await().atMost(Duration.ofSeconds(3)).until(() -> count("198.19.7.13", 5).getInteger("be2", 0) == 5);
    }

    @Test
    void aPodEnilbDidNotAttachIsUntouched() {
        Pod stranger = lab.pod("stranger", "198.18.0.11");
        // it reaches a backend directly, but nothing translates its ClusterIP (no refusal at
        // connect either: the empty Service is just an address nothing answers)
        assertThat(stranger.http(be1.ip(), 8080).output()).isEqualTo("be1 " + stranger.ip() + "\n");
        assertThat(stranger.tryExec(10, "curl", "-sS", "--max-time", "2", "http://" + WEB + "/").ok()).isFalse();
        JsonObject empty = stranger.probe("connect", EMPTY, "80", "tcp");
        assertThat(empty.getString("error")).isNotEqualTo("ECONNREFUSED");
    }

    @Test
    void delRemovesThePodFromTheScope() {
        Pod leaver = lab.macvlanPod("leaver", "198.18.0.12");
        CniPlugin plugin = CniPlugin.of(DaemonProcess.distribution());
        CniPlugin.Run add = plugin.add(leaver, daemon.socket());
        assertThat(add.status()).as(add.stdout()).isZero();
        long cookie;
        try (NetnsRunner runner = new NetnsRunner()) {
            cookie = new Netns(runner).cookieOf(leaver.netns());
        }
        assertThat(leaver.probe("tcp", WEB, "80").getString("peer")).isEqualTo(WEB + ":80");
        assertThat(scopeOf(cookie)).contains(new SockScope(io.enilb.bpf.Ipv4.parse(leaver.ip())));

        CniPlugin.Run del = plugin.del(leaver, daemon.socket());
        assertThat(del.status()).as(del.stdout()).isZero();
        assertThat(scopeOf(cookie)).isEmpty();
        assertThat(leaver.probe("connect", EMPTY, "80", "tcp").getString("error")).isNotEqualTo("ECONNREFUSED");
        assertThat(scopeOf(clientCookie)).as("the other pod stays in scope").isPresent();
    }

    JsonObject count(String ip, int n) {
        Lab.Result r = client.load(120, "count", ip, "80", Integer.toString(n));
        assertThat(r.ok()).as(r.output()).isTrue();
        return new JsonObject(r.output().strip());
    }

    String backendIp(String name) {
        return switch (name) {
            case "be1" -> be1.ip();
            case "be2" -> be2.ip();
            case "be3" -> be3.ip();
            default -> throw new IllegalArgumentException(name);
        };
    }

    /** The pod namespace's entry in the socket hooks' scope. */
    Optional<SockScope> scopeOf(long cookie) {
        try (BpfMap<Long, SockScope> scope = BpfMap.openPinned(daemon.pinRoot().resolve(MapNames.SOCK_SCOPE),
                StructCodec.U64, SockScope.CODEC)) {
            return scope.get(cookie);
        }
    }

    /** The client pod's conntrack entries whose original destination is {@code clusterIp}. */
    long conntrackEntriesTo(String clusterIp) {
        int addr = io.enilb.bpf.Ipv4.parse(clusterIp);
        Path pin = daemon.pinRoot().resolve(MapNames.CONNTRACK);
        try (BpfMap<CtKey, CtValue> ct = BpfMap.openPinned(pin, CtKey.CODEC, CtValue.CODEC)) {
            return ct.entries().keySet().stream()
                    .filter(k -> k.netnsCookie() == clientCookie && k.daddr() == addr && k.dir() == 0).count();
        }
    }
}
