package io.enilb.lab;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The DaemonSet of {@code config/kubernetes/} run with podman on this machine as a kubelet would
 * run it on a node: its image, command, capabilities, security context, host network, env and
 * volume mounts, read from the manifest. Host paths the test must keep apart from the machine's
 * own ({@code /run/enilb}, {@code /var/lib/enilb}, {@code /opt/cni/bin}, {@code /etc/cni/net.d},
 * the ConfigMap) are directories of a work directory; {@code /sys/fs/bpf}, {@code /run/netns} and
 * {@code /proc} are the real ones, as on a node. Environment overrides keep the daemon on its own
 * pin root and on the file source (there is no API server here).
 */
public final class DaemonSetPod implements AutoCloseable {
    private static final KubernetesSerialization YAML = new KubernetesSerialization();
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(1)).build();
    /** Host paths a node shares with everything else: mounted for real. */
    private static final List<String> REAL_HOST_PATHS = List.of("/sys/fs/bpf", "/run/netns", "/proc");

    private final Path repo;
    private final DaemonSet daemonSet;
    private final ConfigMap configMap;
    private final Path work;
    private final String name = "enilb-test-" + UUID.randomUUID().toString().substring(0, 8);
    private final Path pinRoot = Path.of("/sys/fs/bpf/" + name);
    private final Path log;
    private Process process;

    /** Reads the manifests of the repository at {@code repo}; nothing runs yet. */
    public DaemonSetPod(Path repo) {
        this.repo = repo;
        try {
            DaemonSet ds = null;
            ConfigMap cm = null;
            for (String file : List.of("daemonset.yaml", "configmap.yaml")) {
                String text = Files.readString(repo.resolve("config/kubernetes").resolve(file));
                HasMetadata object = YAML.unmarshal(text, HasMetadata.class);
                if (object instanceof DaemonSet d) {
                    ds = d;
                } else if (object instanceof ConfigMap c) {
                    cm = c;
                }
            }
            daemonSet = ds;
            configMap = cm;
            work = Files.createTempDirectory("enilb-daemonset-");
            Files.createDirectories(work.resolve("etc/enilb/services"));
            Files.writeString(work.resolve("etc/enilb/enilb.yaml"), configMap.getData().get("enilb.yaml"));
            log = work.resolve("enilbd.log");
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The pod template's annotations (Prometheus scraping). */
    public Map<String, String> annotations() {
        Map<String, String> a = daemonSet.getSpec().getTemplate().getMetadata().getAnnotations();
        return a == null ? Map.of() : a;
    }

    public PodSpec spec() {
        return daemonSet.getSpec().getTemplate().getSpec();
    }

    public Container container(String containerName) {
        return Stream.concat(spec().getContainers().stream(), spec().getInitContainers().stream())
                .filter(c -> c.getName().equals(containerName)).findFirst().orElseThrow();
    }

    /** The image the manifest names, built by image/build.sh (cached; quick when nothing changed). */
    public String buildImage(Path distribution) {
        String image = container("enilbd").getImage();
        ProcessBuilder build = new ProcessBuilder("bash", "image/build.sh").directory(repo.toFile())
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(work.resolve("build.log").toFile()));
        build.environment().put("ENILB_DIST", distribution.toString());
        int status = run(build, 600);
        if (status != 0) {
            throw new IllegalStateException("image/build.sh failed (" + status + "):\n" + read(work.resolve("build.log")));
        }
        return image;
    }

    /** Copies a directory out of the image (podman create, podman cp) into the work directory. */
    public Path unpack(String imagePath) {
        Path target = work.resolve("unpacked");
        String container = name + "-unpack";
        try {
            Files.createDirectories(target);
            int created = run(new ProcessBuilder("podman", "create", "--name", container, "--pull=never",
                    container("enilbd").getImage()).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD), 60);
            int copied = run(new ProcessBuilder("podman", "cp", container + ":" + imagePath, target.toString())
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD), 120);
            if (created != 0 || copied != 0) {
                throw new IllegalStateException("podman create/cp " + imagePath + " failed: " + created + "/" + copied);
            }
            return target.resolve(Path.of(imagePath).getFileName());
        } catch (IOException e) {
            throw new IllegalStateException(e);
        } finally {
            run(new ProcessBuilder("podman", "rm", "--ignore", "-f", container).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD), 30);
        }
    }

    /** Where the node's path {@code hostPath} is for this test. */
    public Path host(String hostPath) {
        return REAL_HOST_PATHS.contains(hostPath) ? Path.of(hostPath) : work.resolve("node" + hostPath);
    }

    /** A Service file of the daemon's file source (in the ConfigMap's directory). */
    public void putServices(String fileName, String yaml) {
        try {
            Files.writeString(work.resolve("etc/enilb/services").resolve(fileName), yaml);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Runs the init container to completion; returns its exit status and output. */
    public Lab.Result runInitContainer(String containerName) {
        return runInitContainer(containerName, Map.of());
    }

    /** {@link #runInitContainer(String)} with {@code overrides} added to the manifest's env. */
    public Lab.Result runInitContainer(String containerName, Map<String, String> overrides) {
        List<String> cmd = podmanRun(container(containerName), overrides, true);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        try {
            Process p = pb.start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return new Lab.Result(-1, out + "\n(timed out)");
            }
            return new Lab.Result(p.exitValue(), out);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted");
        }
    }

    /**
     * Starts the enilbd container (in the foreground of a podman process, its output in the log)
     * with {@code overrides} added to the manifest's env.
     */
    public void start(Map<String, String> overrides) {
        Map<String, String> env = new LinkedHashMap<>();
        env.put("ENILB_SOURCE", "file");
        env.put("ENILB_FILE_DIR", "/etc/enilb/services");
        env.put("ENILB_BPF_PIN_ROOT", pinRoot.toString());
        env.put("ENILB_BPF_MAX_SERVICES", "1024");
        env.put("ENILB_BPF_MAX_BACKENDS", "4096");
        env.put("ENILB_BPF_CT_SIZE", "16384");
        env.putAll(overrides);
        List<String> cmd = podmanRun(container("enilbd"), env, false);
        try {
            process = new ProcessBuilder(cmd).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
        } catch (IOException e) {
            throw new IllegalStateException("cannot start podman: " + e.getMessage(), e);
        }
    }

    /** The host's pid of the enilbd container's first process (the daemon's JVM: the launcher execs it). */
    public long pid() {
        Lab.Result r = Lab.onHost(30, "podman", "inspect", "--format", "{{.State.Pid}}", name + "-enilbd");
        if (r.status() != 0) {
            throw new IllegalStateException("podman inspect: " + r.output());
        }
        return Long.parseLong(r.output().strip());
    }

    public boolean running() {
        return process != null && process.isAlive();
    }

    /** The container's output so far. */
    public String logText() {
        return read(log);
    }

    /** One GET on the node's address (the pod shares the node's network), as kubelet probes do. */
    public DaemonProcess.Response get(int port, String path) {
        try {
            HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                    .timeout(Duration.ofSeconds(3)).build(), HttpResponse.BodyHandlers.ofString());
            return new DaemonProcess.Response(r.statusCode(), r.body());
        } catch (IOException e) {
            return new DaemonProcess.Response(-1, e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new DaemonProcess.Response(-1, "interrupted");
        }
    }

    /**
     * podman run for a container of the manifest: host network (and the host's PID namespace only
     * if the manifest asks), its user, privileged flag, capabilities, env, command and mounts.
     */
    private List<String> podmanRun(Container c, Map<String, String> extraEnv, boolean remove) {
        PodSpec pod = spec();
        List<String> cmd = new ArrayList<>(List.of("podman",
                // crun refuses hosts where cgroups v1 and v2 controllers are mounted side by side
                "--runtime", "runc",
                "run", "--name", name + "-" + c.getName(), "--pull=never"));
        if (remove) {
            cmd.add("--rm");
        }
        if (Boolean.TRUE.equals(pod.getHostNetwork())) {
            cmd.add("--network=host");
        }
        if (Boolean.TRUE.equals(pod.getHostPID())) {
            cmd.add("--pid=host");
        }
        // a kubelet on a cgroup v2 node gives every container its own cgroup namespace; podman on
        // this cgroup v1-managed machine would share the host's, which the DaemonSet never gets
        cmd.add("--cgroupns=private");
        // podman raises the open-file and process limits by default, which needs CAP_SYS_RESOURCE
        // (not granted to this machine's root); a kubelet leaves the runtime's limits, so keep
        // this machine's; conmon starts the container with at most 32768 processes
        long nproc = limit("Max processes") < 0 ? 32768 : Math.min(limit("Max processes"), 32768);
        cmd.addAll(List.of("--ulimit", "nofile=" + limit("Max open files"), "--ulimit", "nproc=" + nproc));
        var security = c.getSecurityContext();
        if (security != null) {
            if (security.getRunAsUser() != null) {
                cmd.addAll(List.of("--user", security.getRunAsUser().toString()));
            }
            cmd.add("--privileged=" + Boolean.TRUE.equals(security.getPrivileged()));
            if (security.getCapabilities() != null) {
                for (String drop : orEmpty(security.getCapabilities().getDrop())) {
                    cmd.addAll(List.of("--cap-drop", drop));
                }
                for (String add : orEmpty(security.getCapabilities().getAdd())) {
                    cmd.addAll(List.of("--cap-add", add));
                }
            }
        }
        for (EnvVar e : orEmpty(c.getEnv())) {
            String value = e.getValue();
            if (value == null && e.getValueFrom() != null && e.getValueFrom().getFieldRef() != null
                    && e.getValueFrom().getFieldRef().getFieldPath().equals("spec.nodeName")) {
                value = "node-a";
            }
            cmd.addAll(List.of("--env", e.getName() + "=" + value));
        }
        extraEnv.forEach((k, v) -> cmd.addAll(List.of("--env", k + "=" + v)));
        for (VolumeMount m : orEmpty(c.getVolumeMounts())) {
            cmd.addAll(List.of("--volume", volumeSource(m.getName()) + ":" + m.getMountPath() + ":" + mountOptions(m)));
        }
        cmd.add(c.getImage());
        cmd.addAll(orEmpty(c.getCommand()));
        cmd.addAll(orEmpty(c.getArgs()));
        return cmd;
    }

    private String volumeSource(String volumeName) {
        Volume v = spec().getVolumes().stream().filter(x -> x.getName().equals(volumeName)).findFirst().orElseThrow();
        try {
            if (v.getConfigMap() != null) {
                return work.resolve("etc/enilb").toString();
            }
            Path source = host(v.getHostPath().getPath());
            if ("DirectoryOrCreate".equals(v.getHostPath().getType())) {
                Files.createDirectories(source);
            }
            return source.toString();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String mountOptions(VolumeMount m) {
        List<String> options = new ArrayList<>();
        options.add(Boolean.TRUE.equals(m.getReadOnly()) ? "ro" : "rw");
        // Kubernetes' HostToContainer is rslave; None is private
        options.add("HostToContainer".equals(m.getMountPropagation()) ? "rslave" : "rprivate");
        return String.join(",", options);
    }

    /** Unmounts every mount at or under {@code dir} in this process's mount namespace, deepest first; what stays. */
    private static List<String> unmountUnder(Path dir) {
        List<String> stuck = new ArrayList<>();
        List<String> points = mountPointsUnder(dir);
        for (String point : points.stream().sorted(Comparator.reverseOrder()).toList()) {
            Lab.Result umount = Lab.onHost(30, "umount", point);
            if (!umount.ok()) {
                stuck.add(point + " (" + umount.output().strip() + ")");
            }
        }
        return stuck;
    }

    /** Mount points at or under {@code dir} (/proc/self/mountinfo, field 5; no escaped characters under a temp dir). */
    public static List<String> mountPointsUnder(Path dir) {
        String prefix = dir.toAbsolutePath().toString();
        return read(Path.of("/proc/self/mountinfo")).lines().map(l -> l.split(" ")[4])
                .filter(p -> p.equals(prefix) || p.startsWith(prefix + "/")).toList();
    }

    /** The hard limit of this process ({@code /proc/self/limits}); -1 for unlimited. */
    private static long limit(String name) {
        for (String line : read(Path.of("/proc/self/limits")).split("\n")) {
            if (line.startsWith(name)) {
                String hard = line.substring(name.length()).trim().split("\\s+")[1];
                return hard.equals("unlimited") ? -1 : Long.parseLong(hard);
            }
        }
        throw new IllegalStateException("no " + name + " in /proc/self/limits");
    }

    private static <T> List<T> orEmpty(List<T> list) {
        return list == null ? List.of() : list;
    }

    private static String read(Path file) {
        try {
            return Files.exists(file) ? Files.readString(file) : "";
        } catch (IOException e) {
            return e.toString();
        }
    }

    private static int run(ProcessBuilder pb, long timeoutSeconds) {
        try {
            Process p = pb.start();
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return -1;
            }
            return p.exitValue();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    /**
     * Stops the container (SIGTERM, as a kubelet does), removes it, its socket hooks and pins,
     * the mounts an init container made under the work directory, and the work directory.
     */
    @Override
    public void close() {
        for (Container c : Stream.concat(spec().getContainers().stream(), spec().getInitContainers().stream()).toList()) {
            run(new ProcessBuilder("podman", "--runtime", "runc", "stop", "--ignore", "-t", "10", name + "-" + c.getName())
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD), 30);
            run(new ProcessBuilder("podman", "rm", "--ignore", "-f", name + "-" + c.getName())
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD), 30);
        }
        if (process != null) {
            process.destroyForcibly();
        }
        // the socket hooks sit on the host's cgroup v2 root: they go first, with their pins
        new io.enilb.bpf.SocketHooks(pinRoot).detach();
        io.enilb.bpf.BpfObject.unpinAll(pinRoot);
        // mounts an init container made on the node's paths (the cgroup2 root): deleting files
        // under a cgroup mount would remove cgroups, so a mount that stays keeps its directory
        List<String> stuck = unmountUnder(work);
        if (!stuck.isEmpty()) {
            throw new IllegalStateException("cannot unmount " + stuck + "; " + work + " left in place");
        }
        try (Stream<Path> files = Files.walk(work)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // temporary files only
        }
    }
}
