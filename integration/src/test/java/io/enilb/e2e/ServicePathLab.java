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
import java.util.Set;
import java.util.TreeSet;

import io.enilb.bpf.BpfMap;
import io.enilb.bpf.BpfObject.MapNames;
import io.enilb.bpf.Netns;
import io.enilb.bpf.NetnsRunner;
import io.enilb.bpf.StructCodec;
import io.enilb.bpf.Structs.CtKey;
import io.enilb.bpf.Structs.CtValue;
import io.enilb.bpf.Structs.CtKey6;
import io.enilb.bpf.Structs.CtValue6;
import io.enilb.bpf.Ipv6;
import io.enilb.bpf.Structs.SockScope;
import io.enilb.bpf.Structs.SockScope6;
import io.enilb.lab.HeldFlows;
import io.enilb.lab.CniPlugin;
import io.enilb.lab.DaemonProcess;
import io.enilb.lab.Lab;
import io.enilb.lab.LabFixture;
import io.enilb.lab.Pod;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A pod's view of Services through the real daemon and the real enilb-cni, with socket
 * translation on ({@link SocketLbLabTest}) and off ({@link SocketLbOffLabTest}): the same
 * behaviour either way (peer address, getpeername, UDP both ways, reject at connect, affinity,
 * self-access, terminating, a connected UDP socket moving off a removed backend, an unconnected
 * one choosing again after the UDP lifetime of silence, DEL), in both families (dual-stack
 * pods: IPv4 in 198.18.0.0/16 and IPv6 in 2001:db8:18::/64, Services
 * in 198.19.0.0/16 and 2001:db8:19::/108), plus what tells the two paths apart (where the
 * translation happened: the kernel's own peer of the socket, conntrack, the wire).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@ExtendWith(LabFixture.Extension.class)
@org.junit.jupiter.api.Tag("kernel") // root, BPF and network namespaces: left out by -DexcludedGroups=kernel
// (JUnit's Tag is inherited: SocketLbLabTest and SocketLbOffLabTest carry it too)
abstract class ServicePathLab {
    /**
     * The Service addresses of one family: web (TCP, three backends), dns (UDP, be1), self (the
     * client itself), empty (TCP) and emptyUdp without endpoints, and a free address per test
     * that makes its own Service (affinity, terminating, moving UDP, idle UDP).
     */
    record Family(String name, String web, String dns, String self, String empty, String emptyUdp, String aff,
                  String term, String move, String idle) {
        boolean v6() {
            return web.indexOf(':') >= 0;
        }

        /** Appended to a Service's name and file: "" in IPv4, "6" in IPv6. */
        String suffix() {
            return v6() ? "6" : "";
        }

        /** ip:port as the probe shows it: [ip]:port in IPv6. */
        String peer(String ip, int port) {
            return Pod.host(ip) + ":" + port;
        }

        @Override
        public String toString() {
            return name;
        }
    }

    static final Family V4 = new Family("IPv4", "198.19.7.1", "198.19.7.2", "198.19.7.3", "198.19.7.4", "198.19.7.5",
            "198.19.7.12", "198.19.7.13", "198.19.7.14", "198.19.7.15");
    static final Family V6 = new Family("IPv6", "2001:db8:19::7:1", "2001:db8:19::7:2", "2001:db8:19::7:3",
            "2001:db8:19::7:4", "2001:db8:19::7:5", "2001:db8:19::7:12", "2001:db8:19::7:13", "2001:db8:19::7:14",
            "2001:db8:19::7:15");
    static final String WEB = V4.web();
    static final String EMPTY = V4.empty();
    /** conntrack.other, the UDP lifetime of both paths, short so that a test can wait it out. */
    static final int UDP_LIFETIME_S = 3;

    static List<Family> families() {
        return List.of(V4, V6);
    }

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
    void start(LabFixture fixture) {
        lab = fixture.lab();
        be1 = backend(1);
        be2 = backend(2);
        be3 = backend(3);
        client = lab.macvlanPod("client", "198.18.0.10", "2001:db8:18::10");
        lab.echoServer(client.namespace(), client.name(), 8080, 5353);
        daemon = fixture.daemon(Map.of("ENILB_CONNTRACK_OTHER", Integer.toString(UDP_LIFETIME_S)));
        daemon.writeConfig("node: {name: node-a}\nsocket-lb: " + socketLb() + "\n");
        for (Family f : families()) {
            String suffix = f.suffix();
            daemon.putServices("web" + suffix + ".yaml", service("web" + suffix, f.web(), "TCP", 80, 8080, "",
                    endpoints(f, be1, be2, be3)));
            daemon.putServices("dns" + suffix + ".yaml", service("dns" + suffix, f.dns(), "UDP", 53, 5353, "",
                    endpoints(f, be1)));
            daemon.putServices("self" + suffix + ".yaml", service("self" + suffix, f.self(), "TCP", 80, 8080, "",
                    endpoints(f, client)));
            daemon.putServices("empty" + suffix + ".yaml", service("empty" + suffix, f.empty(), "TCP", 80, 8080, "",
                    List.of()));
            daemon.putServices("empty-udp" + suffix + ".yaml", service("empty-udp" + suffix, f.emptyUdp(), "UDP", 53,
                    5353, "", List.of()));
        }
        fixture.startDaemonAndAdd(client);
        try (NetnsRunner runner = new NetnsRunner()) {
            clientCookie = new Netns(runner).cookieOf(client.netns());
        }
    }

    @Test
    void programsShowTheSocketHooksExactlyWhenOn() {
        JsonObject programs = new JsonObject(daemon.get("/v1/programs").body());
        List<String> hooks = programs.getJsonArray("socketHooks").stream()
                .map(h -> ((JsonObject) h).getString("hook")).toList();
        if (atSocket()) {
            assertThat(hooks).containsExactlyInAnyOrder("connect4", "sendmsg4", "recvmsg4", "getpeername4",
                    "connect6", "sendmsg6", "recvmsg6", "getpeername6");
        } else {
            assertThat(hooks).isEmpty();
        }
        assertThat(daemon.readyStatus()).isEqualTo(200);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("families")
    void tcpThroughAClusterIpLooksLikeTheClusterIpToTheClientAndLikeThePodToTheBackend(Family f) {
        String me = clientIp(f);
        long ctBefore = conntrackEntriesTo(f.web());
        Lab.Capture wire = lab.capture(lab.fabric(), "br0", "tcp and host " + me);
        JsonObject seen = client.probe("tcp", f.web(), "80");
        List<String> packets = wire.stop();

        assertThat(seen.getString("peer")).isEqualTo(f.peer(f.web(), 80));
        assertThat(seen.getString("body")).matches("be[123] " + java.util.regex.Pattern.quote(me));
        String backend = ip(f, seen.getString("body").split(" ")[0]);
        // on the wire: the backend's address from the very first SYN, never the ClusterIP
        assertThat(packets).as("%s", packets).isNotEmpty();
        assertThat(packets.get(0)).contains(me + ".").contains("> " + backend + ".8080:").contains("[S]");
        assertThat(packets).noneMatch(p -> p.contains(f.web()));
        if (atSocket()) {
            // the socket itself was sent to the backend; only getpeername shows the Service
            assertThat(seen.getString("kernelPeer")).isEqualTo(f.peer(backend, 8080));
            assertThat(conntrackEntriesTo(f.web())).as("no conntrack entry: no packet was translated")
                    .isEqualTo(ctBefore);
        } else {
            assertThat(seen.getString("kernelPeer")).isEqualTo(f.peer(f.web(), 80));
            assertThat(conntrackEntriesTo(f.web())).isGreaterThan(ctBefore);
        }
    }

    /**
     * An IPv6 socket addressing an IPv4 ClusterIP as ::ffff:a.b.c.d (Java's default on a
     * dual-stack host) sends IPv4 packets: the socket path translates it as IPv4 (the kernel's
     * peer is the mapped backend, no conntrack entry), tc otherwise; either way it sees the mapped
     * ClusterIP, and its unconnected UDP answers come from it.
     */
    @Test
    void anIpv4MappedClusterIpIsTranslatedAsIpv4() {
        String mapped = "::ffff:" + WEB;
        long ctBefore = conntrackEntriesTo(WEB);
        JsonObject seen = client.probe("tcp", mapped, "80");
        assertThat(seen.getString("peer")).isEqualTo("[" + mapped + "]:80");
        assertThat(seen.getString("body")).matches("be[123] " + java.util.regex.Pattern.quote(client.ip()));
        String backend = ip(V4, seen.getString("body").split(" ")[0]);
        if (atSocket()) {
            assertThat(seen.getString("kernelPeer")).isEqualTo("[::ffff:" + backend + "]:8080");
            assertThat(conntrackEntriesTo(WEB)).as("no conntrack entry: no packet was translated").isEqualTo(ctBefore);
        } else {
            assertThat(seen.getString("kernelPeer")).isEqualTo("[" + mapped + "]:80");
        }
        long udpBefore = conntrackEntriesTo(V4.dns());
        JsonObject udp = client.probe("udp", "::ffff:" + V4.dns(), "53");
        assertThat(udp.getString("body")).isEqualTo("be1 " + client.ip());
        assertThat(udp.getString("from")).isEqualTo("[::ffff:" + V4.dns() + "]:53");
        if (atSocket()) {
            // sent as IPv4 by the kernel, through sendmsg4; its answer shown mapped by recvmsg6
            assertThat(conntrackEntriesTo(V4.dns())).isEqualTo(udpBefore);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("families")
    void unconnectedUdpAnswersComeFromTheClusterIp(Family f) {
        JsonObject seen = client.probe("udp", f.dns(), "53");
        assertThat(seen.getString("body")).isEqualTo("be1 " + clientIp(f));
        assertThat(seen.getString("from")).isEqualTo(f.peer(f.dns(), 53));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("families")
    void connectedUdpAnswersComeFromTheClusterIpAndGetpeernameShowsIt(Family f) {
        JsonObject seen = client.probe("udp-connected", f.dns(), "53");
        assertThat(seen.getString("body")).isEqualTo("be1 " + clientIp(f));
        assertThat(seen.getString("from")).isEqualTo(f.peer(f.dns(), 53));
        assertThat(seen.getString("peer")).isEqualTo(f.peer(f.dns(), 53));
    }

    /**
     * A connected UDP socket is one flow for its whole life: when its backend leaves the Service,
     * its next datagrams go to one that is still there (the tc path's UDP rule; socket-lb leaves
     * connected UDP to tc for this, see sock_family.h).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("families")
    void aConnectedUdpSocketMovesOffARemovedBackend(Family f) {
        String file = "move" + f.suffix() + ".yaml";
        daemon.putServices(file, service("move" + f.suffix(), f.move(), "UDP", 53, 5353, "",
                endpoints(f, be1, be2, be3)));
        await().atMost(Duration.ofSeconds(10)).until(() -> client.udp(f.move(), 53).ok());
        try (HeldFlows held = client.flows()) {
            String first = held.udp(f.move(), 53);
            List<Pod> rest = List.of(be1, be2, be3).stream().filter(p -> !p.name().equals(first)).toList();
            assertThat(rest).as("first answer %s", first).hasSize(2);

            daemon.putServices(file, service("move" + f.suffix(), f.move(), "UDP", 53, 5353, "",
                    endpoints(f, rest.toArray(Pod[]::new))));
            // the removed pod still answers: only a moved flow stops reaching it
            await().atMost(Duration.ofSeconds(5)).until(() -> {
                String answer = held.ping().getJsonObject(0).getString("answer");
                return rest.stream().anyMatch(p -> p.name().equals(answer));
            });
        }
    }

    /**
     * An unconnected UDP socket's flow lives as long as a UDP conntrack entry of the tc path
     * (conntrack.other) and is refreshed by its traffic: datagrams closer together than that keep
     * their backend; one after a longer silence chooses again, as kube-proxy's would. Each poll
     * after the first waits the lifetime out: over such idle-separated datagrams the socket
     * reaches more than one of three backends.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("families")
    void anUnconnectedUdpSocketChoosesAgainAfterTheUdpLifetimeOfSilence(Family f) {
        String file = "idle" + f.suffix() + ".yaml";
        daemon.putServices(file, service("idle" + f.suffix(), f.idle(), "UDP", 53, 5353, "",
                endpoints(f, be1, be2, be3)));
        try (HeldFlows held = client.flows()) {
            await().atMost(Duration.ofSeconds(10)).until(() -> held.sendto(f.idle(), 53).matches("be[123]"));
            String first = held.sendto(f.idle(), 53);
            long flows = newFlows("default/idle" + f.suffix());
            for (int i = 0; i < 20; i++) {
                assertThat(held.sendto(f.idle(), 53)).as("datagram %d without idling", i).isEqualTo(first);
            }
            assertThat(newFlows("default/idle" + f.suffix())).as("new flows without idling").isEqualTo(flows);
            Set<String> reached = new TreeSet<>(Set.of(first));
            Duration idle = Duration.ofSeconds(UDP_LIFETIME_S + 1);
            await().atMost(Duration.ofSeconds(120)).pollDelay(idle).pollInterval(idle).until(() -> {
                reached.add(held.sendto(f.idle(), 53));
                return reached.size() > 1;
            });
            assertThat(reached).as("backends reached after idling").allMatch(b -> b.matches("be[123]"));
            // each choice after idling is a new flow of the Service, counted as tc counts one
            assertThat(newFlows("default/idle" + f.suffix())).isGreaterThanOrEqualTo(flows + reached.size() - 1);
        } finally {
            daemon.removeServices(file);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("families")
    void aServiceWithoutEndpointsIsRefusedAtConnect(Family f) {
        JsonObject tcp = client.probe("connect", f.empty(), "80", "tcp");
        assertThat(tcp.getString("error")).isEqualTo("ECONNREFUSED");
        // at the socket the call itself fails; tc answers the SYN (a reset in IPv6, which the
        // client sees at once, where an ICMPv6 error would cost it the 1 s retransmission)
        assertThat(tcp.getLong("ms")).isLessThan(1000);
        System.out.printf("socket-lb %s, %s: connect() to a Service without endpoints refused after %d ms%n", socketLb(),
                f, tcp.getLong("ms"));
        if (atSocket()) {
            // at the socket even a UDP connect() fails at once; tc can only answer the first datagram
            assertThat(client.probe("connect", f.emptyUdp(), "53", "udp").getString("error")).isEqualTo("ECONNREFUSED");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("families")
    void selfAccessIsServedWithThePodsOwnAddressAsClient(Family f) {
        JsonObject seen = client.probe("tcp", f.self(), "80");
        assertThat(seen.getString("body")).isEqualTo("client " + clientIp(f));
        assertThat(seen.getString("peer")).isEqualTo(f.peer(f.self(), 80));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("families")
    void sessionAffinityKeepsAClientOnOneBackend(Family f) {
        daemon.putServices("aff" + f.suffix() + ".yaml", service("aff" + f.suffix(), f.aff(), "TCP",
                80, 8080, "  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 30}}",
                endpoints(f, be1, be2, be3)));
        await().atMost(Duration.ofSeconds(5)).until(() -> count(f.aff(), 1).getInteger("fail") == 0);
        JsonObject hits = count(f.aff(), 40);
        assertThat(hits.getInteger("fail")).isZero();
        assertThat(hits.fieldNames()).as("%s", hits).hasSize(2); // "fail" and one backend
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("families")
    void terminatingEndpointsTakeNoNewConnectionsWhileAReadyOneExists(Family f) {
        String name = "term" + f.suffix();
        daemon.putServices(name + ".yaml", service(name, f.term(), "TCP", 80, 8080, "",
                List.of(ready(ip(f, be1)), terminating(ip(f, be2)))));
        await().atMost(Duration.ofSeconds(5)).until(() -> count(f.term(), 1).getInteger("fail") == 0);
        JsonObject hits = count(f.term(), 30);
        assertThat(hits.getInteger("be1", 0)).as("%s", hits).isEqualTo(30);
        daemon.putServices(name + ".yaml", service(name, f.term(), "TCP", 80, 8080, "",
                List.of(terminating(ip(f, be2)))));
        await().atMost(Duration.ofSeconds(3)).until(() -> count(f.term(), 5).getInteger("be2", 0) == 5);
    }

    /** The flow events a connection and a refusal leave are the same whichever path translated them. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("families")
    void aNewFlowAndARefusalAreFlowEventsOnEitherPath(Family f) {
        int port = f.v6() ? 41111 : 41101;
        Lab.Result r = client.tryExec(10, "curl", "-gsS", "--max-time", "5", "--local-port", String.valueOf(port),
                "http://" + Pod.host(f.web()) + "/");
        assertThat(r.ok()).as(r.output()).isTrue();
        String backend = ip(f, r.output().strip().split(" ")[0]);
        String pod = CniPlugin.containerId(client);
        JsonObject created = await().atMost(Duration.ofSeconds(10))
                .until(() -> flowEvent("service=default/web" + f.suffix() + "&pod=" + pod, f.peer(clientIp(f), port)),
                        Optional::isPresent)
                .orElseThrow();
        assertThat(created.getString("verdict")).isEqualTo("new");
        assertThat(created.getString("frontend")).isEqualTo(f.peer(f.web(), 80) + "/tcp");
        assertThat(created.getString("backend")).isEqualTo(f.peer(backend, 8080));
        assertThat(created.getString("via")).isEqualTo("random");

        Lab.Result refused = client.tryExec(10, "curl", "-gsS", "--max-time", "5", "--local-port",
                String.valueOf(port + 1), "http://" + Pod.host(f.empty()) + "/");
        assertThat(refused.status()).as(refused.output()).isEqualTo(7);
        JsonObject reject = await().atMost(Duration.ofSeconds(10))
                .until(() -> flowEvent("service=default/empty" + f.suffix() + "&pod=" + pod,
                        f.peer(clientIp(f), port + 1)), Optional::isPresent)
                .orElseThrow();
        assertThat(reject.getString("verdict")).isEqualTo("reject");
        assertThat(reject.getString("reason")).isEqualTo("NO_BACKEND");
    }

    /** The new flows the datapath counted for a Service (/v1/counters), both paths' alike. */
    long newFlows(String service) {
        DaemonProcess.Response r = daemon.get("/v1/counters");
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        return new JsonObject(r.body()).getJsonArray("services").stream().map(o -> (JsonObject) o)
                .filter(s -> service.equals(s.getString("service"))).mapToLong(s -> s.getLong("newFlows")).sum();
    }

    /** The recent flow event matching {@code query} whose client is {@code client}. */
    Optional<JsonObject> flowEvent(String query, String client) {
        DaemonProcess.Response r = daemon.get("/v1/flows?" + query);
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        return new JsonObject(r.body()).getJsonArray("flows").stream().map(o -> (JsonObject) o)
                .filter(e -> client.equals(e.getString("client"))).findFirst();
    }

    @Test
    void aPodEnilbDidNotAttachIsUntouched() {
        Pod stranger = lab.pod("stranger", "198.18.0.11", "2001:db8:18::11");
        for (Family f : families()) {
            String me = ip(f, stranger);
            // it reaches a backend directly, but nothing translates its ClusterIP (no refusal at
            // connect either: the empty Service is just an address nothing answers)
            assertThat(stranger.http(ip(f, be1), 8080).output()).as("%s", f).isEqualTo("be1 " + me + "\n");
            assertThat(stranger.tryExec(10, "curl", "-gsS", "--max-time", "2", "http://" + Pod.host(f.web()) + "/")
                    .ok()).as("%s", f).isFalse();
            JsonObject empty = stranger.probe("connect", f.empty(), "80", "tcp");
            assertThat(empty.getString("error")).as("%s", f).isNotEqualTo("ECONNREFUSED");
        }
    }

    @Test
    void delRemovesThePodFromTheScope() {
        Pod leaver = lab.macvlanPod("leaver", "198.18.0.12", "2001:db8:18::12");
        CniPlugin plugin = CniPlugin.of(DaemonProcess.distribution());
        CniPlugin.Run add = plugin.add(leaver, daemon.socket());
        assertThat(add.status()).as(add.stdout()).isZero();
        long cookie;
        try (NetnsRunner runner = new NetnsRunner()) {
            cookie = new Netns(runner).cookieOf(leaver.netns());
        }
        assertThat(leaver.probe("tcp", WEB, "80").getString("peer")).isEqualTo(WEB + ":80");
        assertThat(leaver.probe("tcp", V6.web(), "80").getString("peer")).isEqualTo(V6.peer(V6.web(), 80));
        assertThat(scopeOf(cookie)).contains(new SockScope(io.enilb.bpf.Ipv4.parse(leaver.ip())));
        assertThat(scope6Of(cookie)).contains(new SockScope6(Ipv6.parse(leaver.ip6())));

        CniPlugin.Run del = plugin.del(leaver, daemon.socket());
        assertThat(del.status()).as(del.stdout()).isZero();
        assertThat(scopeOf(cookie)).isEmpty();
        assertThat(scope6Of(cookie)).isEmpty();
        assertThat(leaver.probe("connect", EMPTY, "80", "tcp").getString("error")).isNotEqualTo("ECONNREFUSED");
        assertThat(leaver.probe("connect", V6.empty(), "80", "tcp").getString("error")).isNotEqualTo("ECONNREFUSED");
        assertThat(scopeOf(clientCookie)).as("the other pod stays in scope").isPresent();
        assertThat(scope6Of(clientCookie)).as("the other pod stays in scope").isPresent();
    }

    JsonObject count(String ip, int n) {
        return client.count(ip, n);
    }

    /** A dual-stack echo backend be{n}: 198.18.0.2n and 2001:db8:18::2n. */
    private Pod backend(int n) {
        Pod p = lab.pod("be" + n, "198.18.0." + (20 + n), "2001:db8:18::" + (20 + n));
        lab.echoServer(p.namespace(), p.name(), 8080, 5353);
        return p;
    }

    /** The pods' addresses of family f as ready endpoints. */
    static List<io.enilb.lab.ServiceYaml.Endpoint> endpoints(Family f, Pod... pods) {
        return java.util.Arrays.stream(pods).map(p -> ready(ip(f, p))).toList();
    }

    static String ip(Family f, Pod p) {
        return f.v6() ? p.ip6() : p.ip();
    }

    String clientIp(Family f) {
        return ip(f, client);
    }

    /** The address of family f of the backend the echo server names {@code name}. */
    String ip(Family f, String name) {
        return ip(f, switch (name) {
            case "be1" -> be1;
            case "be2" -> be2;
            case "be3" -> be3;
            default -> throw new IllegalArgumentException(name);
        });
    }

    /** The pod namespace's entry in the socket hooks' scope. */
    Optional<SockScope> scopeOf(long cookie) {
        try (BpfMap<Long, SockScope> scope = BpfMap.openPinned(daemon.pinRoot().resolve(MapNames.SOCK_SCOPE),
                StructCodec.U64, SockScope.CODEC)) {
            return scope.get(cookie);
        }
    }

    /** The pod namespace's entry in the IPv6 socket hooks' scope. */
    Optional<SockScope6> scope6Of(long cookie) {
        try (BpfMap<Long, SockScope6> scope = BpfMap.openPinned(daemon.pinRoot().resolve(MapNames.SOCK_SCOPE6),
                StructCodec.U64, SockScope6.CODEC)) {
            return scope.get(cookie);
        }
    }

    /** The client pod's conntrack entries (of the address's family) whose original destination is {@code clusterIp}. */
    long conntrackEntriesTo(String clusterIp) {
        if (clusterIp.indexOf(':') >= 0) {
            Ipv6 addr6 = Ipv6.parse(clusterIp);
            Path pin6 = daemon.pinRoot().resolve(MapNames.CONNTRACK6);
            try (BpfMap<CtKey6, CtValue6> ct = BpfMap.openPinned(pin6, CtKey6.CODEC, CtValue6.CODEC)) {
                return ct.entries().keySet().stream()
                        .filter(k -> k.netnsCookie() == clientCookie && k.daddr().equals(addr6) && k.dir() == 0).count();
            }
        }
        int addr = io.enilb.bpf.Ipv4.parse(clusterIp);
        Path pin = daemon.pinRoot().resolve(MapNames.CONNTRACK);
        try (BpfMap<CtKey, CtValue> ct = BpfMap.openPinned(pin, CtKey.CODEC, CtValue.CODEC)) {
            return ct.entries().keySet().stream()
                    .filter(k -> k.netnsCookie() == clientCookie && k.daddr() == addr && k.dir() == 0).count();
        }
    }
}
