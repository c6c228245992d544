package io.enilb.e2e;

import static io.enilb.lab.ServiceYaml.Endpoint.ready;
import static io.enilb.lab.ServiceYaml.service;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;

import io.enilb.lab.DaemonProcess;
import io.enilb.lab.Lab;
import io.enilb.lab.LabFixture;
import io.enilb.lab.Pod;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Every packet of a flow through a ClusterIP is translated, seen from a pod with its
 * own NIC, through the real daemon and plugin: ICMP errors come back as the client's socket
 * expects them (ECONNREFUSED, path MTU), and datagrams larger than the MTU cross in fragments
 * both ways.
 */
@org.junit.jupiter.api.Tag("kernel") // root, BPF and network namespaces: left out by -DexcludedGroups=kernel
@ExtendWith(LabFixture.Extension.class)
class EveryPacketLabTest {
    static final String REFUSING = "198.19.3.1";
    static final String FAR = "198.19.3.2";
    static final String ECHO = "198.19.3.3";
    static final String SELF = "198.19.3.4";
    static final String LATE = "198.19.3.5";
    static final int LINK_MTU = 1280;

    static Lab lab;
    static DaemonProcess daemon;
    static Pod client;
    static Pod be1;
    static Lab.SharedNic far;

    /** A TCP server that counts what a connection sends until EOF and answers the count. */
    static final String SINK = "import socket\n"
            + "l=socket.socket();l.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);l.bind(('0.0.0.0',9000));l.listen(8)\n"
            + "print('ready',flush=True)\n"
            + "while True:\n"
            + "  c,_=l.accept();n=0\n"
            + "  while True:\n"
            + "    d=c.recv(65536)\n"
            + "    if not d: break\n"
            + "    n+=len(d)\n"
            + "  c.sendall(str(n).encode());c.close()\n";
    /** A UDP server that sends every datagram back as it came. */
    static final String UDP_ECHO = "import socket\n"
            + "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('0.0.0.0',7000))\n"
            + "print('ready',flush=True)\n"
            + "while True:\n"
            + "  d,a=s.recvfrom(65535);s.sendto(d,a)\n";

    /**
     * A UDP server that, told "go", sends a late reply to the client of the "first" datagram and
     * answers "go" with what became of it: "refused" when an ICMP port unreachable about it came
     * back (IP_RECVERR reports it on an unconnected socket), "nothing" after 2 s.
     */
    static final String LATE_REPLIER = "import socket\n"
            + "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.setsockopt(socket.SOL_IP,11,1);s.bind(('0.0.0.0',7100))\n"
            + "print('ready',flush=True)\n"
            + "first=None\n"
            + "while True:\n"
            + "  d,a=s.recvfrom(100)\n"
            + "  if d==b'first':\n"
            + "    first=a;continue\n"
            + "  if d==b'go' and first:\n"
            + "    s.sendto(b'late',first);s.settimeout(2)\n"
            + "    try:\n"
            + "      s.recvfrom(100);r=b'answer'\n"
            + "    except ConnectionRefusedError:\n"
            + "      r=b'refused'\n"
            + "    except socket.timeout:\n"
            + "      r=b'nothing'\n"
            + "    s.settimeout(None);s.sendto(r,a);first=None\n";

    @BeforeAll
    static void start(LabFixture fixture) {
        lab = fixture.lab();
        be1 = lab.pod("be1", "198.18.0.21");
        far = lab.routedPod("far", 31, 40, LINK_MTU);
        client = lab.macvlanPod("client", "198.18.0.10");
        lab.routeToSharedNic(client, far);
        lab.spawn(far.pod().namespace(), "ready", "python3", "-u", "-c", SINK);
        lab.spawn(be1.namespace(), "ready", "python3", "-u", "-c", UDP_ECHO);
        lab.spawn(be1.namespace(), "ready", "python3", "-u", "-c", LATE_REPLIER);
        daemon = fixture.daemon(Map.of());
        // the per-packet translation (ICMP errors, fragments) is under test: with socket-lb the
        // flows would carry the backend's address end to end and tc would have nothing to do
        daemon.writeConfig("socket-lb: off\n");
        // UDP port 6000 has no listener on be1, nor 6001 on the client itself
        daemon.putServices("refusing.yaml", service("refusing", REFUSING, "UDP", 53, 6000, "", List.of(ready(be1.ip()))));
        daemon.putServices("far.yaml", service("far", FAR, "TCP", 80, 9000, "", List.of(ready(far.pod().ip()))));
        daemon.putServices("echo.yaml", service("echo", ECHO, "UDP", 7, 7000, "", List.of(ready(be1.ip()))));
        daemon.putServices("late.yaml", service("late", LATE, "UDP", 7, 7100, "", List.of(ready(be1.ip()))));
        daemon.putServices("self.yaml", service("self", SELF, "UDP", 53, 6001, "", List.of(ready(client.ip()))));
        fixture.startDaemonAndAdd(client);
    }

    /**
     * Three datagrams from connected UDP sockets, each waiting at most 2 s for an answer; prints
     * per attempt "refused <ms>" (ECONNREFUSED, timed from the send), "answer" or "timeout".
     */
    static List<String> udpAttempts(String ip, int port) {
        String py = "import socket,time\n"
                + "for _ in range(3):\n"
                + "  s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.settimeout(2);s.connect(('" + ip + "'," + port + "))\n"
                + "  t=time.monotonic();s.send(b'x')\n"
                + "  try:\n"
                + "    s.recv(100);print('answer',flush=True)\n"
                + "  except ConnectionRefusedError:\n"
                + "    print('refused %.1f' % ((time.monotonic()-t)*1000),flush=True)\n"
                + "  except socket.timeout:\n"
                + "    print('timeout',flush=True)\n"
                + "  s.close()\n";
        Lab.Result r = client.tryExec(30, "python3", "-c", py);
        assertThat(r.ok()).as(r.output()).isTrue();
        return r.output().lines().toList();
    }

    static void assertRefusedWithin100Ms(List<String> attempts) {
        assertThat(attempts).hasSize(3).allSatisfy(a -> assertThat(a).startsWith("refused"));
        // the fastest of three: the first may also wait for the backend's neighbour entry
        double fastest = attempts.stream().mapToDouble(a -> Double.parseDouble(a.split(" ")[1])).min().orElseThrow();
        System.out.println("ECONNREFUSED after send, 3 attempts: " + attempts);
        assertThat(fastest).as("ms from send to ECONNREFUSED in %s", attempts).isLessThan(100);
    }

    @Test
    void udpToABackendWithoutListenerIsRefusedAtOnce() {
        assertRefusedWithin100Ms(udpAttempts(REFUSING, 53));
    }

    @Test
    void selfAccessToAPortWithoutListenerIsRefusedAtOnce() {
        assertRefusedWithin100Ms(udpAttempts(SELF, 53));
    }

    @Test
    void thePodsPortUnreachableAboutALateReplyReachesTheBackendTranslated() {
        // socket A sends "first" and closes; B tells the backend to answer A now: the pod's
        // kernel answers that reply with port unreachable to the ClusterIP, which must reach
        // the backend as an error about the reply it sent (netfilter translates it so)
        String py = "import socket\n"
                + "a=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);a.connect(('" + LATE + "',7));a.send(b'first');a.close()\n"
                + "b=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);b.settimeout(5);b.connect(('" + LATE + "',7))\n"
                + "b.send(b'go');print(b.recv(100).decode())\n";
        Lab.Result r = client.tryExec(30, "python3", "-c", py);
        assertThat(r.ok()).as(r.output()).isTrue();
        assertThat(r.output().strip()).isEqualTo("refused");
    }

    @Test
    void aMebibyteCrossesARouterWithASmallerMtuThroughTheClusterIp() {
        String py = "import socket\n"
                + "s=socket.create_connection(('" + FAR + "',80),timeout=20)\n"
                + "s.sendall(b'x'*1048576);s.shutdown(socket.SHUT_WR)\n"
                + "print(s.recv(100).decode())\n";
        Lab.Result r = client.tryExec(60, "python3", "-c", py);
        assertThat(r.ok()).as("1 MiB upload through %s: %s", FAR, r.output()).isTrue();
        assertThat(r.output().strip()).isEqualTo("1048576");
        // the router's "fragmentation needed", translated, taught the pod the path MTU to the ClusterIP
        assertThat(client.exec("ip", "route", "get", FAR)).contains("mtu " + LINK_MTU);
    }

    @Test
    void an8000ByteDatagramIsEchoedThroughTheClusterIpInFragmentsBothWays() {
        String py = "import socket,os\n"
                + "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.settimeout(2);s.connect(('" + ECHO + "',7))\n"
                + "ok=0\n"
                + "for i in range(5):\n"
                + "  d=os.urandom(8000);s.send(d)\n"
                + "  try:\n"
                + "    ok+=s.recv(65535)==d\n"
                + "  except socket.timeout:\n"
                + "    pass\n"
                + "print(ok)\n";
        assertThat(client.exec("ip", "-o", "link", "show", "eth0")).contains("mtu 1500 ");
        Lab.Result r = client.tryExec(60, "python3", "-c", py);
        assertThat(r.ok()).as(r.output()).isTrue();
        assertThat(r.output().strip()).as("datagrams echoed intact of 5").isEqualTo("5");
    }
}
