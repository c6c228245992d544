package io.enilb.image;

import static io.enilb.lab.ServiceYaml.Endpoint.ready;
import static io.enilb.lab.ServiceYaml.service;
import static org.assertj.core.api.Assertions.assertThat;

import io.enilb.bpf.CgroupV2;
import io.enilb.lab.CniPlugin;
import io.enilb.lab.DaemonSetPod;
import io.enilb.lab.DaemonProcess;
import io.enilb.lab.Lab;
import io.enilb.lab.Pod;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.HTTPGetAction;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The image and the DaemonSet as shipped: image/build.sh builds the image the manifest names; the
 * init container installs the plugin and chains it; enilbd runs from the image with exactly the
 * manifest's security context (capabilities, not privileged), host network, env, mounts and
 * command; a lab pod is attached by the installed plugin, run with no Java on PATH, through a
 * CNI_NETNS of the /proc/PID/ns/net form, and reaches a ClusterIP.
 */
@org.junit.jupiter.api.Tag("kernel") // root, BPF and network namespaces: left out by -DexcludedGroups=kernel
class DaemonSetImageTest {
    /** PATH for the plugin: system directories without java (asserted below). */
    private static final String PATH_WITHOUT_JAVA = "/usr/sbin:/sbin";
    private static final String CLUSTER_IP = "198.19.7.1";
    private static final String MACVLAN_CONFLIST = """
            {
              "cniVersion": "1.0.0",
              "name": "eni",
              "plugins": [
                {"type": "macvlan", "master": "eth1", "ipam": {"type": "host-local", "ranges": [[{"subnet": "198.18.0.0/16"}]]}},
                {"type": "portmap", "capabilities": {"portMappings": true}}
              ]
            }
            """;

    static Lab lab;
    static DaemonSetPod daemonSet;
    static Pod client;
    static Pod backend;
    static Process holder;
    static CniPlugin plugin;
    static boolean clientAttached;
    /** Where the node's cgroup v2 root is mounted for this test (the node path /run/enilb/cgroupv2). */
    static Path cgroupMount;
    /** The programs of the socket hooks the containerized daemon attached: gone after the test. */
    static List<Integer> hookProgramIds = List.of();

    @BeforeAll
    static void start() throws Exception {
        Path dist = DaemonProcess.distribution();
        daemonSet = new DaemonSetPod(repository());
        daemonSet.buildImage(dist);

        lab = new Lab();
        backend = lab.pod("be1", "198.18.7.21");
        lab.echoServer(backend.namespace(), "be1", 8080, 5353);
        client = lab.macvlanPod("client", "198.18.7.10");
        // a process in the client's namespace: the runtime names the namespace as /proc/PID/ns/net
        holder = lab.spawn(client.namespace(), null, "sleep", "600");

        Path netd = daemonSet.host("/etc/cni/net.d");
        Files.createDirectories(netd);
        Files.writeString(netd.resolve("10-eni.conflist"), MACVLAN_CONFLIST);
        Lab.Result install = daemonSet.runInitContainer("install-cni");
        assertThat(install.status()).as(install.output()).isZero();
        // the node's cgroup v2 root, mounted in the node's namespaces at the test's node path.
        // This machine's PID 1 is the VM's agent, whose namespace links no container may open (nor
        // should); the test process stands for it: it is in the machine's initial cgroup namespace
        // and in the mount namespace where the test's node paths are.
        cgroupMount = daemonSet.host("/run/enilb/cgroupv2");
        Map<String, String> node = Map.of("ENILB_CGROUP_MOUNT", cgroupMount.toString(),
                "ENILB_HOST_PID", Long.toString(ProcessHandle.current().pid()));
        Lab.Result mounted = daemonSet.runInitContainer("mount-cgroup", node);
        assertThat(mounted.status()).as(mounted.output()).isZero();
        assertThat(CgroupV2.isHierarchyRoot(cgroupMount)).as("the host's root cgroup at " + cgroupMount).isTrue();
        // a pod restart runs it again: nothing more is mounted
        Lab.Result again = daemonSet.runInitContainer("mount-cgroup", node);
        assertThat(again.status()).as(again.output()).isZero();
        assertThat(again.output()).contains("already");
        assertThat(DaemonSetPod.mountPointsUnder(cgroupMount)).containsExactly(cgroupMount.toString());
        plugin = new CniPlugin(daemonSet.host("/opt/cni/bin").resolve("enilb")).withOnlyPath(PATH_WITHOUT_JAVA);

        daemonSet.putServices("web.yaml", service("web", CLUSTER_IP, "TCP", 80, 8080, "", List.of(ready(backend.ip()))));
        daemonSet.start(Map.of());
        HTTPGetAction readiness = daemonSet.container("enilbd").getReadinessProbe().getHttpGet();
        try {
            org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(120))
                    .failFast("enilbd container exited", () -> !daemonSet.running())
                    .until(() -> daemonSet.get(readiness.getPort().getIntVal(), readiness.getPath()).status() == 200);
        } catch (org.awaitility.core.ConditionTimeoutException | org.awaitility.core.TerminalFailureException e) {
            throw new AssertionError(e.getMessage() + "\n" + daemonSet.logText(), e);
        }
        hookProgramIds = new JsonObject(daemonSet.get(9876, "/v1/programs").body()).getJsonArray("socketHooks").stream()
                .map(h -> ((JsonObject) h).getInteger("id")).toList();
    }

    @AfterAll
    static void stop() {
        if (plugin != null && holder != null) {
            plugin.run("DEL", "client-by-pid", procNetns(holder.pid()), "eth0", enilbConfig(client));
        }
        try {
            if (daemonSet != null) {
                daemonSet.close();
                // the node is left as it was: the cgroup mount is gone and so are the hooks (their
                // links were pinned under the pin root only; the kernel frees them after a grace period)
                if (cgroupMount != null) {
                    assertThat(DaemonSetPod.mountPointsUnder(cgroupMount)).isEmpty();
                }
                org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(30))
                        .until(() -> hookProgramIds.stream().noneMatch(id -> Lab.onHost(10, "bpftool", "prog", "show", "id",
                                Integer.toString(id)).ok()));
            }
        } finally {
            if (lab != null) {
                lab.close();
                assertThat(lab.remainingNamespaces()).isEmpty();
            }
        }
    }

    /** The repository root: the first parent that has config/kubernetes. */
    private static Path repository() {
        for (Path p = DaemonProcess.distribution().toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isDirectory(p.resolve("config/kubernetes"))) {
                return p;
            }
        }
        throw new IllegalStateException("no config/kubernetes above " + DaemonProcess.distribution());
    }

    private static String procNetns(long pid) {
        return "/proc/" + pid + "/ns/net";
    }

    /**
     * What a runtime hands enilb from the installed chain: the list's cniVersion and name, enilb's
     * own entry, and the previous plugin's result; plus the socket, whose node path is the test's.
     */
    private static String enilbConfig(Pod pod) {
        try {
            JsonObject conflist = new JsonObject(Files.readString(daemonSet.host("/etc/cni/net.d").resolve("10-eni.conflist")));
            JsonObject entry = conflist.getJsonArray("plugins").stream().map(JsonObject.class::cast)
                    .filter(p -> "enilb".equals(p.getString("type"))).findFirst().orElseThrow();
            JsonObject lab = new JsonObject(CniPlugin.config(pod, daemonSet.host("/run/enilb").resolve("cni.sock")));
            return entry.copy().put("cniVersion", conflist.getString("cniVersion")).put("name", conflist.getString("name"))
                    .put("socket", lab.getString("socket")).put("prevResult", lab.getJsonObject("prevResult")).encode();
        } catch (java.io.IOException e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void theInitContainerInstalledThePluginWithItsRuntimeAndChainedIt() throws Exception {
        Path bin = daemonSet.host("/opt/cni/bin");
        assertThat(bin.resolve("enilb")).isExecutable();
        assertThat(bin.resolve("enilb-jre/bin/java")).isExecutable();
        JsonArray plugins = new JsonObject(Files.readString(daemonSet.host("/etc/cni/net.d").resolve("10-eni.conflist")))
                .getJsonArray("plugins");
        assertThat(plugins.stream().map(p -> ((JsonObject) p).getString("type"))).containsExactly("macvlan", "enilb", "portmap");
        for (String dir : PATH_WITHOUT_JAVA.split(":")) {
            assertThat(Path.of(dir, "java")).as("java on the plugin's PATH").doesNotExist();
        }
    }

    @Test
    void theDaemonsRuntimeMapsTheJdksClassDataArchive() throws Exception {
        // jlink makes none unless asked: without it every start loads and verifies the JDK's classes
        String maps = Files.readString(Path.of("/proc/" + daemonSet.pid() + "/maps"));
        assertThat(maps).as("the enilbd JVM's mappings").contains("/jre/lib/server/classes.jsa");
    }

    @Test
    void probesAndMetricsAnswerWhereTheManifestAsksAndV1StaysOnLoopback() {
        Container enilbd = daemonSet.container("enilbd");
        HTTPGetAction liveness = enilbd.getLivenessProbe().getHttpGet();
        HTTPGetAction readiness = enilbd.getReadinessProbe().getHttpGet();
        assertThat(daemonSet.get(liveness.getPort().getIntVal(), liveness.getPath()).status()).isEqualTo(200);
        assertThat(daemonSet.get(readiness.getPort().getIntVal(), readiness.getPath()).status()).isEqualTo(200);
        Map<String, String> annotations = daemonSet.annotations();
        int metricsPort = Integer.parseInt(annotations.get("prometheus.io/port"));
        assertThat(daemonSet.get(metricsPort, annotations.get("prometheus.io/path")).body()).contains("enilb_");
        assertThat(daemonSet.get(metricsPort, "/v1/services").status()).as("/v1 on the probe port").isEqualTo(404);
        // health.listen of the ConfigMap: 127.0.0.1:9876, all of it
        assertThat(daemonSet.get(9876, "/v1/services").body()).contains(CLUSTER_IP);
    }

    /** CNI ADD of the client through the installed plugin, once for the tests that need it. */
    private static synchronized void attachClient() {
        if (!clientAttached) {
            CniPlugin.Run add = plugin.run("ADD", "client-by-pid", procNetns(holder.pid()), "eth0", enilbConfig(client));
            assertThat(add.status()).as(add.stdout() + "\n" + daemonSet.logText()).isZero();
            clientAttached = true;
        }
    }

    @Test
    void aPodAttachedThroughTheInstalledPluginWithoutJavaReachesAClusterIp() {
        attachClient();

        Lab.Result answer = client.http(CLUSTER_IP, 80);
        assertThat(answer.ok()).as(answer.output()).isTrue();
        assertThat(answer.output()).contains("be1");
        org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
                assertThat(new JsonObject(daemonSet.get(9876, "/v1/programs").body()).getString("tcAttach"))
                        .as("tcx links made and pinned within the container's capabilities").isEqualTo("tcx"));
        // set by the containerized daemon through rtnetlink: /proc/sys is read-only in its container
        assertThat(client.exec("cat", "/proc/sys/net/ipv4/conf/lo/accept_local").strip()).isEqualTo("1");
    }

    /**
     * socket-lb in the DaemonSet as shipped: enilbd (a private cgroup namespace, no host cgroup
     * mount) attaches its hooks at the node's cgroup root that mount-cgroup mounted, and a pod's
     * connection to a ClusterIP is translated at connect(): the socket's peer in the kernel is the
     * backend from the start (no packet of it is rewritten), while getpeername shows the ClusterIP.
     */
    @Test
    void socketLbAttachesAtTheNodesCgroupRootAndTranslatesAtConnect() {
        JsonArray hooks = new JsonObject(daemonSet.get(9876, "/v1/programs").body()).getJsonArray("socketHooks");
        assertThat(hooks.stream().map(h -> ((JsonObject) h).getString("hook")).toList()).as(daemonSet.logText())
                .containsExactlyInAnyOrder("connect4", "sendmsg4", "recvmsg4", "getpeername4",
                        "connect6", "sendmsg6", "recvmsg6", "getpeername6");
        assertThat(hooks.stream().map(h -> ((JsonObject) h).getString("cgroup")).distinct().toList())
                .containsExactly("/run/enilb/cgroupv2");
        attachClient();

        JsonObject seen = client.probe("tcp", CLUSTER_IP, "80");
        assertThat(seen.getString("kernelPeer")).as("the socket's peer in the kernel").isEqualTo(backend.ip() + ":8080");
        assertThat(seen.getString("peer")).as("getpeername").isEqualTo(CLUSTER_IP + ":80");
        assertThat(seen.getString("body")).contains("be1");
    }

    @Test
    void aRequestNamingTheHostsNamespaceIsRefusedAndChangesNothing() throws Exception {
        Lab.Result tcBefore = Lab.onHost(10, "tc", "filter", "show", "dev", "lo", "egress");
        String acceptLocalBefore = Files.readString(Path.of("/proc/sys/net/ipv4/conf/lo/accept_local"));
        List<String> stateBefore = stateFiles();

        String hostNetns = procNetns(ProcessHandle.current().pid());
        CniPlugin.Run add = plugin.run("ADD", "host-by-pid", hostNetns, "eth0", enilbConfig(client));

        assertThat(add.status()).isEqualTo(1);
        JsonObject error = new JsonObject(add.stdout());
        assertThat(error.getInteger("code")).isEqualTo(4);
        assertThat(error.getString("msg")).contains("host's network namespace");
        assertThat(Lab.onHost(10, "tc", "filter", "show", "dev", "lo", "egress")).isEqualTo(tcBefore);
        assertThat(Files.readString(Path.of("/proc/sys/net/ipv4/conf/lo/accept_local"))).isEqualTo(acceptLocalBefore);
        assertThat(stateFiles()).isEqualTo(stateBefore);
    }

    private static List<String> stateFiles() throws Exception {
        Path state = daemonSet.host("/var/lib/enilb");
        try (Stream<Path> files = Files.walk(state)) {
            return files.map(p -> state.relativize(p).toString()).sorted().toList();
        }
    }

    /**
     * The systemd unit's ExecStart on the image's /opt/enilb unpacked onto this machine, with no
     * Java on PATH and no JAVA_HOME: the launcher takes the image's own runtime.
     */
    @Test
    void theImageContentsUnpackedRunAsTheSystemdUnitStartsThem() throws Exception {
        String execStart = Files.readAllLines(repository().resolve("systemd/enilb.service")).stream()
                .filter(l -> l.startsWith("ExecStart=")).findFirst().orElseThrow().substring("ExecStart=".length());
        assertThat(execStart).startsWith("/opt/enilb/bin/enilbd --config ");
        Path unpacked = daemonSet.unpack("/opt/enilb");
        assertThat(unpacked.resolve("jre/bin/java")).isExecutable();

        try (DaemonProcess daemon = new DaemonProcess(unpacked, Map.of("PATH", PATH_WITHOUT_JAVA, "JAVA_HOME", ""))) {
            daemon.startAndAwaitReady(Duration.ofSeconds(120));
            assertThat(Files.readString(Path.of("/proc/" + daemon.process().pid() + "/cmdline")))
                    .as("the runtime of the image").startsWith(unpacked.resolve("jre/bin/java").toString());
        }
    }
}
