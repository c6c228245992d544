package io.enilb.bpf;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import io.enilb.bpf.Structs.CtKey;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * enilb's programs on a real device in a test namespace, with real traffic: a cls_bpf filter of
 * another tool on the same egress hook (a packet counter on a clsact qdisc it made) still sees the
 * packets that are not enilb's, whether enilb's program is a tcx link (which runs first) or a
 * clsact filter at the first priority; and a Service flow is translated both ways, so the
 * programs find the pod's conntrack entries by its namespace on ingress too, where a packet
 * has no socket.
 */
@org.junit.jupiter.api.Tag("kernel") // root, BPF and network namespaces: left out by -DexcludedGroups=kernel
class TcCoexistenceTest {
    private static final String POD_IP = "198.18.251.10";
    private static final String PEER_IP = "198.18.251.1";
    private static final String VIP = "198.19.0.10";

    private final String id = UUID.randomUUID().toString().substring(0, 6);
    private final String pod = "enilb-h1-" + id + "-pod";
    private final String peer = "enilb-h1-" + id + "-peer";
    private final List<Process> servers = new ArrayList<>();
    private DatapathFixture dp;
    private Path counterPins;

    @BeforeEach
    void namespaces() {
        podAndPeer(pod, peer, POD_IP + "/24", PEER_IP + "/24", "198.19.0.0/16");
        dp = new DatapathFixture();
        counterPins = dp.pinRoot.resolveSibling(dp.pinRoot.getFileName() + "-counter");
        try {
            Files.createDirectories(counterPins);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        run("bpftool", "prog", "load", TestObjects.bpfObject().resolveSibling("test/count_packets.o").toString(),
                counterPins + "/prog", "type", "classifier", "pinmaps", counterPins.toString());
        // nsenter --net keeps the host's /sys/fs/bpf, where the program is pinned (ip netns exec remounts /sys)
        run("nsenter", "--net=" + netns(pod), "tc", "qdisc", "add", "dev", "eth0", "clsact");
        run("nsenter", "--net=" + netns(pod), "tc", "filter", "add", "dev", "eth0", "egress", "prio", "2", "bpf",
                "da", "pinned", counterPins + "/prog");
        dp.datapath.attach(netns(pod), "eth0");
        dp.datapath.registerAddresses(netns(pod), List.of(Ipv4.parse(POD_IP)));
    }

    @AfterEach
    void cleanUp() throws IOException {
        servers.forEach(Process::destroyForcibly);
        quietly("ip", "netns", "del", pod);
        quietly("ip", "netns", "del", peer);
        if (dp != null) {
            dp.close();
        }
        if (counterPins != null && Files.isDirectory(counterPins)) {
            try (var pins = Files.list(counterPins)) {
                for (Path p : pins.toList()) {
                    Files.delete(p);
                }
            }
            Files.delete(counterPins);
        }
    }

    @Test
    void aSecondFilterStillSeesWhatEnilbsTcxLinkPasses() {
        dp.datapath.promote(netns(pod), "eth0");
        assertThat(dp.datapath.attached(netns(pod), "eth0")).extracting(PodDatapath.AttachedProgram::attachment)
                .containsExactly("tcx", "tcx", "tcx");
        assertThat(run("nsenter", "--net=" + netns(pod), "tc", "filter", "show", "dev", "eth0", "egress"))
                .doesNotContain("enilb").contains("pref 2 bpf");
        udpSend(PEER_IP, 9, 5);
        assertThat(counted()).as("packets the second filter saw").isGreaterThanOrEqualTo(5);
    }

    @Test
    void aSecondFilterStillSeesWhatEnilbsClsactFilterPasses() {
        try (Datapath clsact = Datapath.load(TestObjects.bpfObject(), dp.pinRoot, Map.of(), TcAttach.CLSACT)) {
            clsact.attach(netns(pod), "eth0");
            assertThat(clsact.attached(netns(pod), "eth0")).extracting(PodDatapath.AttachedProgram::attachment)
                    .containsExactly("clsact", "clsact", "clsact");
            assertThat(run("nsenter", "--net=" + netns(pod), "tc", "filter", "show", "dev", "eth0", "egress"))
                    .contains("enilb_egress").contains("pref 2 bpf");
            udpSend(PEER_IP, 9, 5);
            assertThat(counted()).as("packets the second filter saw").isGreaterThanOrEqualTo(5);
        }
    }

    @Test
    void attachingToAFreshDeviceLogsNoLibbpfWarning() {
        String other = "enilb-h1-" + id + "-fresh";
        run("ip", "netns", "add", other);
        java.io.PrintStream stderr = System.err;
        java.io.ByteArrayOutputStream captured = new java.io.ByteArrayOutputStream();
        try {
            run("ip", "-n", other, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1");
            System.setErr(new java.io.PrintStream(captured, true, StandardCharsets.UTF_8));
            // tc answers "no such filter" and "qdisc exists" on purpose: not worth a warning
            dp.datapath.attach(netns(other), "eth0");
            dp.datapath.attach(netns(other), "eth0");
        } finally {
            System.setErr(stderr);
            quietly("ip", "netns", "del", other);
        }
        assertThat(captured.toString(StandardCharsets.UTF_8)).doesNotContain("WARN");
    }

    @Test
    void aServiceFlowIsTranslatedBothWaysOnRealTraffic() {
        dp.service(2, VIP, 53, Packets.UDP, 0, DatapathFixture.Be.active(PEER_IP, 5353));
        servers.add(start("nsenter", "--net=" + netns(peer), "python3", "-c",
                "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('" + PEER_IP + "',5353))\n"
                        + "print('ready',flush=True)\nwhile True:\n d,a=s.recvfrom(100)\n s.sendto(d,a)"));
        String answer = run("nsenter", "--net=" + netns(pod), "python3", "-c",
                "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.settimeout(3)\n"
                        + "for i in range(10):\n s.sendto(b'ping',('" + VIP + "',53))\n"
                        + " try:\n  d,a=s.recvfrom(100)\n  print(a[0],d.decode())\n  break\n except socket.timeout:\n  pass");
        assertThat(answer.strip()).as("the reply comes from the ClusterIP").isEqualTo(VIP + " ping");
        long cookie = dp.datapath.netnsCookie(netns(pod));
        assertThat(dp.maps.conntrack().entries().keySet()).as("entries keyed by the pod's namespace")
                .isNotEmpty().allSatisfy(k -> assertThat(k.netnsCookie()).isEqualTo(cookie))
                .anySatisfy(k -> assertThat(k.dir()).isEqualTo(CtKey.REPLY));
    }

    private long counted() {
        String json = run("bpftool", "-j", "map", "lookup", "pinned", counterPins + "/counted", "key", "0", "0", "0", "0");
        // {"key":[...],"value":["0x05","0x00",...]} : 8 little-endian bytes
        String[] bytes = json.substring(json.indexOf("\"value\"")).replaceAll("[^0-9a-fx,]", "").split(",");
        long v = 0;
        for (int i = 0; i < 8; i++) {
            v |= Long.parseLong(bytes[i].replace("0x", ""), 16) << (8 * i);
        }
        return v;
    }

    private void udpSend(String ip, int port, int count) {
        run("nsenter", "--net=" + netns(pod), "python3", "-c",
                "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                        + "for i in range(" + count + "): s.sendto(b'x',('" + ip + "'," + port + "))");
    }

    /**
     * Namespaces pod and peer joined by a veth pair (eth0 on both sides), up, with the addresses
     * given (extra {@code ip addr} flags after them, e.g. nodad), and serviceRange routed from the
     * pod via the peer's address.
     */
    static void podAndPeer(String pod, String peer, String podCidr, String peerCidr, String serviceRange,
                           String... addrFlags) {
        run("ip", "netns", "add", pod);
        run("ip", "netns", "add", peer);
        run("ip", "-n", pod, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", peer);
        for (String ns : List.of(pod, peer)) {
            run("ip", "-n", ns, "link", "set", "lo", "up");
            run("ip", "-n", ns, "link", "set", "eth0", "up");
        }
        for (String[] nsAddr : List.of(new String[] {pod, podCidr}, new String[] {peer, peerCidr})) {
            List<String> cmd = new ArrayList<>(List.of("ip", "-n", nsAddr[0], "addr", "add", nsAddr[1], "dev", "eth0"));
            cmd.addAll(List.of(addrFlags));
            run(cmd.toArray(String[]::new));
        }
        run("ip", "-n", pod, "route", "add", serviceRange, "via", peerCidr.substring(0, peerCidr.indexOf('/')));
    }

    static Path netns(String name) {
        return Path.of("/run/netns", name);
    }

    static Process start(String... command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            String first = new String(p.getInputStream().readNBytes(6), StandardCharsets.UTF_8);
            assertThat(first).as("server started: %s", String.join(" ", command)).isEqualTo("ready\n");
            return p;
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    static String run(String... command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
            assertThat(p.exitValue()).as("%s\n%s", String.join(" ", command), out).isZero();
            return out;
        } catch (IOException e) {
            throw new AssertionError(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    static void quietly(String... command) {
        try {
            new ProcessBuilder(command).redirectErrorStream(true).start().waitFor(30, TimeUnit.SECONDS);
        } catch (IOException | InterruptedException e) {
            // best effort in cleanup
        }
    }
}
