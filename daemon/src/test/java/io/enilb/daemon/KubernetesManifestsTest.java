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
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
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
                .containsExactlyInAnyOrder("BPF", "NET_ADMIN", "SYS_ADMIN", "PERFMON", "SYS_PTRACE");
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
    void probesAndPrometheusAskTheProbeListener() {
        Container enilbd = container(pod().getContainers(), "enilbd");
        assertThat(enilbd.getLivenessProbe().getHttpGet().getPath()).isEqualTo("/healthz");
        assertThat(enilbd.getLivenessProbe().getHttpGet().getPort().getIntVal()).isEqualTo(9877);
        assertThat(enilbd.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/readyz");
        assertThat(enilbd.getReadinessProbe().getHttpGet().getPort().getIntVal()).isEqualTo(9877);
        // no host: kubelet uses the pod's IP, which with hostNetwork is the node's
        assertThat(enilbd.getLivenessProbe().getHttpGet().getHost()).isNull();
        Map<String, String> annotations = only(DaemonSet.class).getSpec().getTemplate().getMetadata().getAnnotations();
        assertThat(annotations).containsEntry("prometheus.io/port", "9877").containsEntry("prometheus.io/path", "/metrics");
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
            // /v1 (the Service table, container ids, netns paths) never on the node's network
            assertThat(config.health().listen()).isEqualTo(new EnilbConfig.HostPort("127.0.0.1", 9876));
            assertThat(config.health().probeListen()).contains(new EnilbConfig.HostPort("0.0.0.0", 9877));
            assertThat(config.cni().socket()).isEqualTo(Path.of("/run/enilb/cni.sock"));
            Container enilbd = container(pod().getContainers(), "enilbd");
            assertThat(config.cni().procRoot()).isEqualTo(Path.of(mount(enilbd, "/host/proc").getMountPath()));
        } finally {
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
    }

    // --- the init container: enilbctl cni install on the mounted host directories

    @Test
    void initContainerInstallsWithEnilbctlIntoTheMountedDirectories() throws Exception {
        Container install = container(pod().getInitContainers(), "install-cni");
        List<String> command = install.getCommand();
        assertThat(command.subList(0, 3)).containsExactly("/opt/enilb/bin/enilbctl", "cni", "install");
        assertThat(install.getArgs()).isNullOrEmpty();
        Map<String, String> options = new TreeMap<>();
        for (int i = 3; i + 1 < command.size(); i += 2) {
            options.put(command.get(i), command.get(i + 1));
        }
        assertThat(options).isEqualTo(Map.of("--bin-dir", "/host/opt/cni/bin", "--net-dir", "/host/etc/cni/net.d"));
        Map<String, String> mounts = hostMounts(install);
        assertThat(mounts.get(options.get("--bin-dir"))).isEqualTo("/opt/cni/bin");
        assertThat(mounts.get(options.get("--net-dir"))).isEqualTo("/etc/cni/net.d");
        assertThat(install.getSecurityContext().getPrivileged()).isFalse();
        assertThat(install.getSecurityContext().getCapabilities().getDrop()).containsExactly("ALL");
        assertThat(install.getImage()).isEqualTo(container(pod().getContainers(), "enilbd").getImage());
    }

    // --- the init container that gives socket-lb the node's cgroup v2 root

    /**
     * mount-cgroup mounts the node's cgroup root at a node path that enilbd's run volume holds
     * (enilbd's own container keeps its private cgroup namespace and no host cgroup mount), with
     * only the capabilities nsenter and mount(2) need, from the node's /proc mounted read-only.
     */
    @Test
    void mountCgroupPutsTheNodesCgroupRootWhereEnilbdLooksWithThreeCapabilities() {
        Container mountCgroup = container(pod().getInitContainers(), "mount-cgroup");
        Container enilbd = container(pod().getContainers(), "enilbd");
        assertThat(mountCgroup.getCommand()).containsExactly("/opt/enilb/bin/enilbctl", "cgroup", "mount");
        assertThat(mountCgroup.getImage()).isEqualTo(enilbd.getImage());
        Map<String, String> env = new TreeMap<>();
        mountCgroup.getEnv().forEach(e -> env.put(e.getName(), e.getValue()));
        assertThat(env).isEqualTo(Map.of("ENILB_CGROUP_MOUNT", "/run/enilb/cgroupv2", "ENILB_HOST_PROC", "/host/proc"));
        assertThat(hostMounts(mountCgroup)).isEqualTo(Map.of("/host/proc", "/proc"));
        assertThat(mount(mountCgroup, "/host/proc").getReadOnly()).isTrue();
        // the node path is inside a host directory enilbd mounts at the same path
        assertThat(hostMounts(enilbd)).containsEntry("/run/enilb", "/run/enilb");
        assertThat(Path.of(env.get("ENILB_CGROUP_MOUNT")).startsWith("/run/enilb")).isTrue();

        var security = mountCgroup.getSecurityContext();
        assertThat(security.getPrivileged()).isFalse();
        assertThat(security.getCapabilities().getAdd()).containsExactlyInAnyOrder("SYS_ADMIN", "SYS_CHROOT", "SYS_PTRACE");
        assertThat(security.getCapabilities().getDrop()).containsExactly("ALL");
        assertThat(security.getAppArmorProfile().getType()).isEqualTo("Unconfined");
        // the order kubelet runs them in: the plugin first, as before
        assertThat(pod().getInitContainers()).extracting(Container::getName).containsExactly("install-cni", "mount-cgroup");
        // enilbd itself gains nothing for it
        assertThat(enilbd.getSecurityContext().getCapabilities().getAdd()).doesNotContain("SYS_CHROOT");
    }
}
