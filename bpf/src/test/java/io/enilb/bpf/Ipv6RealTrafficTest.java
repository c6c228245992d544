package io.enilb.bpf;

import static io.enilb.bpf.TcCoexistenceTest.netns;
import static io.enilb.bpf.TcCoexistenceTest.podAndPeer;
import static io.enilb.bpf.TcCoexistenceTest.quietly;
import static io.enilb.bpf.TcCoexistenceTest.run;
import static io.enilb.bpf.TcCoexistenceTest.start;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

import io.enilb.bpf.DatapathFixture.Be;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The IPv6 datapath on a real veth pair in test namespaces, with the kernel's own stack at both
 * ends: neighbour discovery for the backend (bpf_redirect_neigh), TCP with checksum offload
 * (CHECKSUM_PARTIAL on veth), UDP both ways, self-access over loopback, and a Service without
 * backends refused (ICMPv6 port unreachable, a reset for connect()) that the client's socket reports at once.
 */
@org.junit.jupiter.api.Tag("kernel") // root, BPF and network namespaces: left out by -DexcludedGroups=kernel
class Ipv6RealTrafficTest {
    private static final String POD_IP = "2001:db8:18::fb0a";
    private static final String PEER_IP = "2001:db8:18::fb01";
    private static final String VIP = "2001:db8:19::fa";

    private final String id = UUID.randomUUID().toString().substring(0, 6);
    private final String pod = "enilb-h7-" + id + "-pod";
    private final String peer = "enilb-h7-" + id + "-peer";
    private final List<Process> servers = new ArrayList<>();
    private DatapathFixture dp;

    @BeforeEach
    void namespaces() {
        // nodad: usable at once (duplicate address detection would hold the addresses for a second)
        podAndPeer(pod, peer, POD_IP + "/64", PEER_IP + "/64", "2001:db8:19::/108", "nodad");
        dp = new DatapathFixture();
        dp.datapath.attach(netns(pod), "eth0");
        dp.datapath.registerAddresses(netns(pod), List.of(), List.of(Ipv6.parse(POD_IP)));
    }

    @AfterEach
    void cleanUp() {
        servers.forEach(Process::destroyForcibly);
        quietly("ip", "netns", "del", pod);
        quietly("ip", "netns", "del", peer);
        if (dp != null) {
            dp.close();
        }
    }

    private void echoServer(String ns, String ip, int port, boolean tcp) {
        String body = tcp
                ? "s=socket.socket(socket.AF_INET6,socket.SOCK_STREAM)\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
                        + "s.bind(('" + ip + "'," + port + "))\ns.listen()\nprint('ready',flush=True)\nwhile True:\n"
                        + " c,a=s.accept()\n d=b''\n while True:\n  x=c.recv(65536)\n  if not x: break\n  d+=x\n"
                        + " c.sendall(d)\n c.close()"
                : "s=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM)\ns.bind(('" + ip + "'," + port + "))\n"
                        + "print('ready',flush=True)\nwhile True:\n d,a=s.recvfrom(100)\n s.sendto(d,a)";
        servers.add(start("nsenter", "--net=" + netns(ns), "python3", "-c", "import socket\n" + body));
    }

    private String udpAsk(int port) {
        return run("nsenter", "--net=" + netns(pod), "python3", "-c",
                "import socket\ns=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM)\ns.settimeout(3)\n"
                        + "for i in range(10):\n s.sendto(b'ping',('" + VIP + "'," + port + "))\n"
                        + " try:\n  d,a=s.recvfrom(100)\n  print(a[0],d.decode())\n  break\n except socket.timeout:\n  pass")
                .strip();
    }

    @Test
    void udpThroughAnIpv6ClusterIpComesBackFromIt() {
        dp.service6(2, VIP, 53, Packets.UDP, 0, Be.active(PEER_IP, 5353));
        echoServer(peer, PEER_IP, 5353, false);
        assertThat(udpAsk(53)).as("the reply comes from the ClusterIP").isEqualTo(VIP + " ping");
        long cookie = dp.datapath.netnsCookie(netns(pod));
        assertThat(dp.maps.conntrack6().entries().keySet()).isNotEmpty()
                .allSatisfy(k -> assertThat(k.netnsCookie()).isEqualTo(cookie));
    }

    @Test
    void tcpWithChecksumOffloadCarries100KilobytesBothWays() {
        dp.service6(1, VIP, 80, Packets.TCP, 0, Be.active(PEER_IP, 8080));
        echoServer(peer, PEER_IP, 8080, true);
        String out = run("nsenter", "--net=" + netns(pod), "python3", "-c",
                "import socket\nc=socket.create_connection(('" + VIP + "',80),timeout=5)\n"
                        + "print(c.getpeername()[0])\nd=bytes(range(256))*400\nc.sendall(d)\nc.shutdown(socket.SHUT_WR)\n"
                        + "r=b''\nwhile True:\n x=c.recv(65536)\n if not x: break\n r+=x\nprint(r==d)");
        assertThat(out.lines().toList()).containsExactly(VIP, "True");
    }

    @Test
    void selfAccessGoesOverLoopback() {
        dp.service6(3, VIP, 54, Packets.UDP, 0, Be.active(POD_IP, 5454));
        echoServer(pod, POD_IP, 5454, false);
        assertThat(udpAsk(54)).isEqualTo(VIP + " ping");
    }

    @Test
    void aServiceWithoutBackendsRefusesAtOnce() {
        dp.service6(4, VIP, 55, Packets.UDP, 0);
        String out = run("nsenter", "--net=" + netns(pod), "python3", "-c",
                "import socket\ns=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM)\ns.settimeout(3)\n"
                        + "s.connect(('" + VIP + "',55))\ns.send(b'x')\n"
                        + "try:\n s.recv(10)\n print('answer')\nexcept ConnectionRefusedError:\n print('refused')\n"
                        + "except socket.timeout:\n print('timeout')");
        assertThat(out.strip()).isEqualTo("refused");
        assertThat(dp.maps.dropped(Maps.DropReason.NO_BACKEND)).isEqualTo(1);
    }

    /**
     * connect() to an IPv6 Service without backends fails with ECONNREFUSED at once, blocking or
     * with a timeout (poll): the answer arrives while connect() still owns the socket, where an
     * ICMPv6 error would only be recorded as a soft error and fail the connect with the
     * retransmission a second later (see reject6_tcp_reset). 500 ms: generous on a loaded
     * machine, and still fails at that 1 s.
     */
    @Test
    void aTcpConnectToAServiceWithoutBackendsIsRefusedAtOnce() {
        dp.service6(5, VIP, 80, Packets.TCP, 0);
        for (String timeout : List.of("None", "4")) {
            String out = run("nsenter", "--net=" + netns(pod), "python3", "-c",
                    "import socket, time\ns=socket.socket(socket.AF_INET6,socket.SOCK_STREAM)\ns.settimeout(" + timeout
                            + ")\nt=time.monotonic()\ntry:\n s.connect(('" + VIP + "',80))\n print('connected')\n"
                            + "except ConnectionRefusedError:\n print('refused %.1f' % ((time.monotonic()-t)*1000))\n"
                            + "except socket.timeout:\n print('timeout')").strip();
            System.out.printf("IPv6 connect() (timeout %s) to a Service without backends: %s ms%n", timeout, out);
            assertThat(out).as("timeout %s", timeout).startsWith("refused ");
            assertThat(Double.parseDouble(out.substring("refused ".length()))).as("ms to ECONNREFUSED").isLessThan(500);
        }
        assertThat(dp.maps.dropped(Maps.DropReason.NO_BACKEND)).isEqualTo(2);
    }
}
