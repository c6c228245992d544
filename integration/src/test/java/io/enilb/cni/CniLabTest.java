package io.enilb.cni;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import io.enilb.attach.AttachVerticle;
import io.enilb.bpf.Datapath;
import io.enilb.bpf.Ipv4;
import io.enilb.bpf.PodDatapath;
import io.enilb.bpf.Structs.BackendEntry;
import io.enilb.bpf.Structs.RevNatValue;
import io.enilb.bpf.Structs.SlotKey;
import io.enilb.bpf.Structs.SlotValue;
import io.enilb.bpf.Structs.SvcKey;
import io.enilb.bpf.Structs.SvcValue;
import io.enilb.lab.CniPlugin;
import io.enilb.lab.CniPlugin.Run;
import io.enilb.lab.Lab;
import io.enilb.lab.LabFixture;
import io.enilb.lab.Pod;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The real packaged enilb-cni, run the way a container runtime runs it (CNI_* environment, the
 * configuration with prevResult on stdin), against the attach verticle on the real datapath,
 * for a pod whose NIC is a macvlan device on the lab's fabric.
 */
@org.junit.jupiter.api.Tag("kernel") // root, BPF and network namespaces: left out by -DexcludedGroups=kernel
@ExtendWith(LabFixture.Extension.class)
class CniLabTest {
    static final String VIP = "198.19.0.20";
    static Lab lab;
    static Pod pod;
    static Datapath datapath;
    static Vertx vertx;
    static Path work;
    static Path socket;
    static CniPlugin plugin;

    @BeforeAll
    static void start(LabFixture fixture) throws Exception {
        Path executable = Path.of(System.getProperty("enilb.dist"), "bin", "enilb-cni");
        assertThat(Files.isExecutable(executable)).as("packaged plugin %s", executable).isTrue();
        plugin = new CniPlugin(executable);
        work = Files.createTempDirectory("enilb-cni-lab");
        socket = work.resolve("run/cni.sock");
        lab = fixture.lab();
        Pod backend = lab.pod("be", "198.18.0.41");
        lab.echoServer(backend.namespace(), "be", 8080, 5353);
        pod = lab.macvlanPod("app", "198.18.0.40");
        datapath = fixture.datapath();
        datapath.maps().backends().put(1, new BackendEntry(Ipv4.parse(backend.ip()), 8080, 0, 1));
        datapath.maps().slots().put(new SlotKey(1, 0), new SlotValue(1));
        datapath.maps().revNat().put(1, new RevNatValue(Ipv4.parse(VIP), 80));
        datapath.maps().services().put(new SvcKey(Ipv4.parse(VIP), 80, 6), new SvcValue(1, 1, 0, 0));
        vertx = Vertx.vertx();
        vertx.deployVerticle(new AttachVerticle(datapath, work.resolve("state"), CniSocketSettings.defaults(socket)))
                .await(20, TimeUnit.SECONDS);
    }

    /** The attach verticle goes first: the fixture then closes the datapath under it and the lab. */
    @AfterAll
    static void stop() throws Exception {
        if (vertx != null) {
            vertx.close().await(20, TimeUnit.SECONDS);
        }
    }

    /** Until the pod's three programs are in tcx links: attached at its ADD, moved right after. */
    static void awaitLinks(Pod p) {
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(datapath.attached(p.netns(), "eth0"))
                .extracting(PodDatapath.AttachedProgram::attachment).containsExactly("tcx", "tcx", "tcx"));
    }

    /** The plugin run on the pod's eth0. */
    static Run cni(String command, String containerId, String netns, String config) {
        return plugin.run(command, containerId, netns, "eth0", config);
    }

    static String config(Path sock, String ip, boolean withPrevResult) {
        String prev = withPrevResult ? ",\"prevResult\":{\"cniVersion\":\"1.1.0\",\"interfaces\":[{\"name\":\"eth0\",\"sandbox\":\""
                + pod.netns() + "\"}],\"ips\":[{\"address\":\"" + ip + "/16\",\"interface\":0,\"gateway\":\"198.18.0.1\"}]}" : "";
        return "{\"cniVersion\":\"1.1.0\",\"name\":\"lab\",\"type\":\"enilb\",\"socket\":\"" + sock + "\"" + prev + "}";
    }

    @Test
    void addThenTrafficCheckDelTwice() throws Exception {
        String cfg = config(socket, pod.ip(), true);
        Run add = cni("ADD", "c0ffee01", pod.netns().toString(), cfg);
        assertThat(add.status()).as(add.stdout()).isZero();
        assertThat(add.stdout()).contains("\"ips\"").contains(pod.ip() + "/16");
        awaitLinks(pod);

        Lab.Result r = pod.http(VIP, 80);
        assertThat(r.ok()).as(r.output()).isTrue();
        assertThat(r.output()).isEqualTo("be " + pod.ip() + "\n");

        assertThat(cni("CHECK", "c0ffee01", pod.netns().toString(), cfg).status()).isZero();
        assertThat(cni("DEL", "c0ffee01", pod.netns().toString(), cfg).status()).isZero();
        assertThat(cni("DEL", "c0ffee01", pod.netns().toString(), cfg).status()).isZero();
        assertThat(datapath.attached(pod.netns(), "eth0")).as("no enilb filter after DEL").isEmpty();
        assertThat(pod.exec("tc", "filter", "show", "dev", "eth0", "egress")).doesNotContain("enilb");
    }

    @Test
    void statusSaysReadyAndGcForgetsPodsNotInTheValidList() throws Exception {
        String status = "{\"cniVersion\":\"1.1.0\",\"name\":\"lab\",\"type\":\"enilb\",\"socket\":\"" + socket + "\"}";
        assertThat(cni("STATUS", "", "", status).status()).isZero();

        Pod gcPod = lab.macvlanPod("gc", "198.18.0.42");
        String cfg = config(socket, gcPod.ip(), true).replace(pod.netns().toString(), gcPod.netns().toString());
        Run add = cni("ADD", "c0ffee05", gcPod.netns().toString(), cfg);
        assertThat(add.status()).as(add.stdout()).isZero();
        awaitLinks(gcPod);
        String gc = "{\"cniVersion\":\"1.1.0\",\"name\":\"lab\",\"type\":\"enilb\",\"socket\":\"" + socket
                + "\",\"cni.dev/valid-attachments\":[{\"containerID\":\"someone-else\",\"ifname\":\"eth0\"}]}";
        Run r = cni("GC", "", "", gc);
        assertThat(r.status()).as(r.stdout()).isZero();
        assertThat(datapath.attached(gcPod.netns(), "eth0")).as("GC detached the pod it forgot").isEmpty();
    }

    /** The runtime deletes the namespace first and sends DEL after: the pod's tcx links go by the cookie of its ADD. */
    @Test
    void delAfterTheNamespaceWentLeavesNoLinkBehind() throws Exception {
        Pod gone = lab.macvlanPod("gone", "198.18.0.44");
        String cfg = config(socket, gone.ip(), true).replace(pod.netns().toString(), gone.netns().toString());
        Run add = cni("ADD", "c0ffee06", gone.netns().toString(), cfg);
        assertThat(add.status()).as(add.stdout()).isZero();
        long cookie = datapath.netnsCookie(gone.netns());
        Path links = datapath.pinRoot().resolve("tcx").resolve(Long.toUnsignedString(cookie));
        await().atMost(Duration.ofSeconds(10)).until(() -> Files.isDirectory(links)); // moved after the ADD

        Lab.onHost(10, "ip", "netns", "del", gone.namespace());
        Run del = cni("DEL", "c0ffee06", gone.netns().toString(), cfg);

        assertThat(del.status()).as(del.stdout()).isZero();
        assertThat(links).as("no pin of the gone pod's links").doesNotExist();
    }

    /**
     * What keeps an ADD fast: its runtime maps its class-data archive at the archive's own address
     * with the archived module graph, takes every class from it, and the exchange with the daemon
     * goes through the runtime's JNI library, not the JDK's socket channels. A change that pulls
     * more of the JDK into the request path (regular expressions, streams, String.format, a JSON
     * library), a runtime whose archive no longer matches the plugin, launcher options that turn
     * the module graph or the fixed address off, or a runtime without the library fails here.
     */
    @Test
    void addLoadsItsClassesFromTheRuntimesArchive() throws Exception {
        Pod cds = lab.macvlanPod("cds", "198.18.0.43");
        Path log = work.resolve("add-class-load.log");
        Path archiveLog = work.resolve("add-cds.log");
        String cfg = config(socket, cds.ip(), true).replace(pod.netns().toString(), cds.netns().toString());
        Run add = plugin.withEnvironment(Map.of("JDK_JAVA_OPTIONS",
                        "-Xlog:class+load=info:file=" + log + " -Xlog:cds=info:file=" + archiveLog))
                .run("ADD", "c0ffee06", cds.netns().toString(), "eth0", cfg);
        assertThat(add.status()).as(add.stdout()).isZero();
        awaitLinks(cds);

        assertThat(Files.readString(archiveLog)).as("the class-data archive as the ADD mapped it")
                .contains("full module graph: enabled")
                .doesNotContain("alternative address");

        List<String> loaded = Files.readAllLines(log);
        assertThat(loaded).as("classes one ADD loads (424 when written)").hasSizeBetween(300, 500);
        assertThat(loaded).filteredOn(line -> !line.endsWith("source: shared objects file"))
                .as("classes an ADD loads from outside the runtime's class-data archive").isEmpty();
        assertThat(loaded).filteredOn(line -> line.contains(" sun.nio.ch.") || line.contains(" java.lang.invoke.LambdaMetafactory "))
                .as("JDK socket channels or a lambda bootstrap in an ADD").isEmpty();
        assertThat(cni("DEL", "c0ffee06", cds.netns().toString(), cfg).status()).isZero();
    }

    @Test
    void versionIsAnsweredLocally() throws Exception {
        Run v = cni("VERSION", "", "", "{\"cniVersion\":\"1.1.0\"}");
        assertThat(v.status()).isZero();
        assertThat(v.stdout()).contains("\"supportedVersions\"").contains("1.1.0").contains("1.0.0").contains("0.4.0");
    }

    @Test
    void addWithoutPrevResultIsAnError() throws Exception {
        Run add = cni("ADD", "c0ffee02", pod.netns().toString(), config(socket, pod.ip(), false));
        assertThat(add.status()).isEqualTo(1);
        assertThat(add.stdout()).contains("\"code\"").contains("prevResult");
    }

    @Test
    void addWithTheDaemonDownSaysTryAgainLater() throws Exception {
        Run add = cni("ADD", "c0ffee03", pod.netns().toString(), config(work.resolve("nobody.sock"), pod.ip(), true));
        assertThat(add.status()).isEqualTo(1);
        assertThat(add.stdout()).contains("\"code\":11");
        Run del = cni("DEL", "c0ffee03", pod.netns().toString(), config(work.resolve("nobody.sock"), pod.ip(), true));
        assertThat(del.status()).as("DEL succeeds with the daemon down").isZero();
    }

    /**
     * A socket path with a NUL in the config is refused as unreachable: a leading NUL would name a
     * socket in the abstract namespace, which anyone on the node can bind, and the plugin would
     * hand it the pod's netns and container id. The listener here answers any ADD with success.
     */
    @Test
    void aSocketPathWithANulIsNotTakenAsAnAbstractSocket() throws Exception {
        String name = "enilb-cni-test-" + UUID.randomUUID().toString().substring(0, 8);
        Process listener = new ProcessBuilder("socat", "ABSTRACT-LISTEN:" + name + ",fork",
                "SYSTEM:printf '%s' '{\"result\":{\"cniVersion\":\"1.1.0\"}}'")
                .redirectErrorStream(true).start();
        try {
            await().atMost(Duration.ofSeconds(10)).until(() -> Files.readString(Path.of("/proc/net/unix")).contains("@" + name));
            String cfg = config(socket, pod.ip(), true).replace("\"socket\":\"" + socket + "\"", "\"socket\":\"\\u0000" + name + "\"");
            Run add = cni("ADD", "c0ffee07", pod.netns().toString(), cfg);
            assertThat(add.status()).as(add.stdout()).isEqualTo(1);
            assertThat(add.stdout()).contains("\"code\":11");
            assertThat(datapath.attached(pod.netns(), "eth0")).isEmpty();
        } finally {
            listener.destroy();
            assertThat(listener.waitFor(10, TimeUnit.SECONDS)).isTrue();
        }
    }

    @Test
    void addForAMissingNamespaceChangesNothing() throws Exception {
        Run add = cni("ADD", "c0ffee04", "/run/netns/enilb-no-such-ns", config(socket, pod.ip(), true));
        assertThat(add.status()).isEqualTo(1);
        assertThat(add.stdout()).contains("\"code\"");
        assertThat(datapath.attached(pod.netns(), "eth0")).isEmpty();
    }
}
