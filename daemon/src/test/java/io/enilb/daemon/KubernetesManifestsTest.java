package io.enilb.daemon;

import static org.assertj.core.api.Assertions.assertThat;

import io.enilb.daemon.config.ConfigLoader;
import io.enilb.daemon.config.EnilbConfig;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBinding;
import io.fabric8.kubernetes.api.model.rbac.PolicyRule;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** config/kubernetes/*.yaml: they parse, grant no more than needed and carry what the daemon expects. */
class KubernetesManifestsTest {
    private static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();
    private static List<HasMetadata> objects;

    @TempDir
    Path dir;

    @BeforeAll
    static void loadManifests() throws Exception {
        Path manifests = projectDir().resolve("config/kubernetes");
        objects = new ArrayList<>();
        try (Stream<Path> files = Files.list(manifests)) {
            for (Path file : files.filter(f -> f.toString().endsWith(".yaml")).sorted().toList()) {
                objects.addAll(documents(Files.readString(file)));
            }
        }
    }

    /** The repository root: the first parent that has config/kubernetes. */
    private static Path projectDir() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isDirectory(p.resolve("config/kubernetes"))) {
                return p;
            }
        }
        throw new IllegalStateException("config/kubernetes not found above " + Path.of("").toAbsolutePath());
    }

    private static List<HasMetadata> documents(String yaml) {
        List<HasMetadata> out = new ArrayList<>();
        for (String document : yaml.split("(?m)^---\\s*$")) {
            boolean onlyComments = document.lines().map(String::strip)
                    .allMatch(line -> line.isEmpty() || line.startsWith("#"));
            if (!onlyComments) {
                out.add(SERIALIZATION.unmarshal(document, HasMetadata.class));
            }
        }
        return out;
    }

    private static <T extends HasMetadata> T only(Class<T> type) {
        List<T> found = objects.stream().filter(type::isInstance).map(type::cast).toList();
        assertThat(found).as("%s objects", type.getSimpleName()).hasSize(1);
        return found.get(0);
    }

    private static PodSpec pod() {
        return only(DaemonSet.class).getSpec().getTemplate().getSpec();
    }

    private static Container container(List<Container> containers, String name) {
        return containers.stream().filter(c -> c.getName().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no container " + name));
    }

    /** mountPath -> host path of the volume behind it. */
    private static Map<String, String> hostMounts(Container container) {
        Map<String, String> out = new TreeMap<>();
        for (VolumeMount mount : container.getVolumeMounts()) {
            Volume volume = pod().getVolumes().stream().filter(v -> v.getName().equals(mount.getName()))
                    .findFirst().orElseThrow(() -> new AssertionError("no volume " + mount.getName()));
            if (volume.getHostPath() != null) {
                out.put(mount.getMountPath(), volume.getHostPath().getPath());
            }
        }
        return out;
    }

    private static VolumeMount mount(Container container, String path) {
        return container.getVolumeMounts().stream().filter(m -> m.getMountPath().equals(path)).findFirst()
                .orElseThrow(() -> new AssertionError("no mount at " + path));
    }

    @Test
    void everythingLivesInKubeSystem() {
        assertThat(objects).extracting(o -> o.getKind()).containsExactlyInAnyOrder(
                "ConfigMap", "DaemonSet", "ServiceAccount", "ClusterRole", "ClusterRoleBinding");
        objects.stream().filter(o -> !(o instanceof ClusterRole) && !(o instanceof ClusterRoleBinding))
                .forEach(o -> assertThat(o.getMetadata().getNamespace()).as(o.getKind()).isEqualTo("kube-system"));
    }

    @Test
    void daemonSetSharesTheNodeNetworkWithCapabilitiesNotPrivilege() {
        PodSpec pod = pod();
        assertThat(pod.getHostNetwork()).isTrue();
        assertThat(pod.getHostPID()).isFalse();
        assertThat(pod.getServiceAccountName()).isEqualTo(only(ServiceAccount.class).getMetadata().getName());
        Container enilbd = container(pod.getContainers(), "enilbd");
        assertThat(enilbd.getSecurityContext().getPrivileged()).isFalse();
        assertThat(enilbd.getSecurityContext().getCapabilities().getAdd())
                .containsExactlyInAnyOrder("BPF", "NET_ADMIN", "SYS_ADMIN", "PERFMON");
        assertThat(enilbd.getSecurityContext().getCapabilities().getDrop()).containsExactly("ALL");
        EnvVar nodeName = enilbd.getEnv().stream().filter(e -> e.getName().equals("NODE_NAME")).findFirst()
                .orElseThrow();
        assertThat(nodeName.getValueFrom().getFieldRef().getFieldPath()).isEqualTo("spec.nodeName");
    }

    @Test
    void daemonSetMountsWhatTheDaemonAndThePluginNeed() {
        Container enilbd = container(pod().getContainers(), "enilbd");
        assertThat(hostMounts(enilbd)).containsAllEntriesOf(Map.of(
                "/sys/fs/bpf", "/sys/fs/bpf",
                "/run/netns", "/run/netns",
                "/host/proc", "/proc",
                "/run/enilb", "/run/enilb",
                "/var/lib/enilb", "/var/lib/enilb"));
        assertThat(mount(enilbd, "/sys/fs/bpf").getMountPropagation()).isEqualTo("HostToContainer");
        assertThat(mount(enilbd, "/run/netns").getMountPropagation()).isEqualTo("HostToContainer");
        assertThat(mount(enilbd, "/host/proc").getReadOnly()).isTrue();
        assertThat(mount(enilbd, "/etc/enilb").getReadOnly()).isTrue();
        // Kubernetes refuses Bidirectional propagation in a container that is not privileged
        pod().getContainers().forEach(c -> c.getVolumeMounts().forEach(m ->
                assertThat(m.getMountPropagation()).as(m.getMountPath()).isNotEqualTo("Bidirectional")));

        Container install = container(pod().getInitContainers(), "install-cni");
        assertThat(hostMounts(install)).containsAllEntriesOf(Map.of(
                "/host/opt/cni/bin", "/opt/cni/bin",
                "/host/etc/cni/net.d", "/etc/cni/net.d"));
    }

    @Test
    void probesAskHealthzAndReadyz() {
        Container enilbd = container(pod().getContainers(), "enilbd");
        assertThat(enilbd.getLivenessProbe().getHttpGet().getPath()).isEqualTo("/healthz");
        assertThat(enilbd.getLivenessProbe().getHttpGet().getPort().getIntVal()).isEqualTo(9876);
        assertThat(enilbd.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/readyz");
        assertThat(enilbd.getReadinessProbe().getHttpGet().getPort().getIntVal()).isEqualTo(9876);
        // no host: kubelet uses the pod's IP, which with hostNetwork is the node's
        assertThat(enilbd.getLivenessProbe().getHttpGet().getHost()).isNull();
    }

    @Test
    void clusterRoleGrantsOnlyReads() {
        Set<String> grants = new TreeSet<>();
        for (PolicyRule rule : only(ClusterRole.class).getRules()) {
            assertThat(rule.getResourceNames()).as("resourceNames").isNullOrEmpty();
            assertThat(rule.getNonResourceURLs()).as("nonResourceURLs").isNullOrEmpty();
            for (String group : rule.getApiGroups()) {
                for (String resource : rule.getResources()) {
                    for (String verb : rule.getVerbs()) {
                        grants.add(group + "/" + resource + " " + verb);
                    }
                }
            }
        }
        assertThat(grants).containsExactlyInAnyOrder(
                "/services get", "/services list", "/services watch",
                "discovery.k8s.io/endpointslices get", "discovery.k8s.io/endpointslices list",
                "discovery.k8s.io/endpointslices watch",
                "/nodes get");
        ClusterRoleBinding binding = only(ClusterRoleBinding.class);
        assertThat(binding.getRoleRef().getName()).isEqualTo(only(ClusterRole.class).getMetadata().getName());
        assertThat(binding.getSubjects()).singleElement().satisfies(s -> {
            assertThat(s.getKind()).isEqualTo("ServiceAccount");
            assertThat(s.getName()).isEqualTo("enilb");
            assertThat(s.getNamespace()).isEqualTo("kube-system");
        });
    }

    @Test
    void configMapIsAValidConfiguration() throws Exception {
        Path file = dir.resolve("enilb.yaml");
        Files.writeString(file, only(ConfigMap.class).getData().get("enilb.yaml"));
        Vertx vertx = Vertx.vertx();
        try {
            EnilbConfig config = new ConfigLoader(vertx, Map.of("NODE_NAME", "node-1"), () -> "host",
                    Path.of("/opt/enilb/lib/enilb.bpf.o")).load(file)
                    .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
            assertThat(config.source()).isEqualTo(EnilbConfig.Source.KUBERNETES);
            assertThat(config.node().name()).isEqualTo("node-1");
            assertThat(config.health().listen()).isEqualTo(new EnilbConfig.HostPort("0.0.0.0", 9876));
            assertThat(config.cni().socket()).isEqualTo(Path.of("/run/enilb/cni.sock"));
        } finally {
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
    }

    // --- the init container's script, run for real against temporary directories

    private int installCni(Path bin, Path netd) throws Exception {
        Container install = container(pod().getInitContainers(), "install-cni");
        Path plugin = Files.writeString(dir.resolve("enilb-cni"), "#!/bin/sh\necho plugin\n");
        ProcessBuilder sh = new ProcessBuilder(Stream.concat(install.getCommand().stream(),
                install.getArgs().stream()).collect(Collectors.toList()));
        sh.environment().putAll(Map.of("CNI_BIN_DIR", bin.toString(), "CNI_NET_DIR", netd.toString(),
                "ENILB_CNI", plugin.toString()));
        sh.redirectErrorStream(true).redirectOutput(dir.resolve("install.log").toFile());
        Process process = sh.start();
        assertThat(process.waitFor(30, TimeUnit.SECONDS)).isTrue();
        return process.exitValue();
    }

    private Path cniDirs(String... files) throws Exception {
        Path netd = Files.createDirectories(dir.resolve("net.d"));
        Files.createDirectories(dir.resolve("bin"));
        for (int i = 0; i < files.length; i += 2) {
            Files.writeString(netd.resolve(files[i]), files[i + 1]);
        }
        return netd;
    }

    private static final String MACVLAN = """
            {
              "cniVersion": "1.0.0",
              "name": "eni",
              "plugins": [
                { "type": "macvlan", "master": "eth1", "ipam": { "type": "host-local", "ranges": [[{"subnet": "198.18.0.0/16"}]] } },
                { "type": "portmap", "capabilities": {"portMappings": true} }
              ]
            }
            """;

    @Test
    void installCniChainsEnilbIntoTheFirstConflistOnce() throws Exception {
        Path netd = cniDirs("10-eni.conflist", MACVLAN, "20-other.conflist", MACVLAN);
        Path bin = dir.resolve("bin");
        assertThat(installCni(bin, netd)).as(Files.readString(dir.resolve("install.log"))).isZero();

        assertThat(bin.resolve("enilb")).isExecutable().hasContent("#!/bin/sh\necho plugin");
        JsonObject chained = new JsonObject(Files.readString(netd.resolve("10-eni.conflist")));
        JsonArray plugins = chained.getJsonArray("plugins");
        assertThat(plugins.stream().map(p -> ((JsonObject) p).getString("type")))
                .containsExactly("macvlan", "portmap", "enilb");
        assertThat(plugins.getJsonObject(0)).isEqualTo(new JsonObject(MACVLAN).getJsonArray("plugins")
                .getJsonObject(0));
        assertThat(Files.readString(netd.resolve("20-other.conflist"))).isEqualTo(MACVLAN);
        String once = Files.readString(netd.resolve("10-eni.conflist"));

        assertThat(installCni(bin, netd)).isZero();
        assertThat(Files.readString(netd.resolve("10-eni.conflist"))).isEqualTo(once);
        try (Stream<Path> files = Files.list(netd)) {
            // the backup is hidden from runtimes: they only read *.conf, *.conflist and *.json
            assertThat(files.map(f -> f.getFileName().toString()).filter(n -> !n.startsWith(".")))
                    .containsExactlyInAnyOrder("10-eni.conflist", "20-other.conflist");
        }
    }

    @Test
    void installCniRefusesWhatItCannotChain() throws Exception {
        Path netd = cniDirs();
        Path bin = dir.resolve("bin");
        assertThat(installCni(bin, netd)).isEqualTo(1);
        assertThat(Files.readString(dir.resolve("install.log"), StandardCharsets.UTF_8))
                .contains("no CNI configuration");

        Files.writeString(netd.resolve("05-single.conf"), "{\"cniVersion\":\"1.0.0\",\"name\":\"x\",\"type\":\"bridge\"}");
        assertThat(installCni(bin, netd)).isEqualTo(1);
        assertThat(Files.readString(dir.resolve("install.log"))).contains("single-plugin configuration");
        assertThat(Files.readString(netd.resolve("05-single.conf"))).doesNotContain("enilb");
    }
}
