package io.enilb.ctl;

import io.enilb.bpf.BpfException;
import io.enilb.bpf.CgroupV2;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * {@code enilbctl cgroup mount}: what the DaemonSet's mount-cgroup init container runs. socket-lb
 * attaches its hooks at the root of the node's cgroup v2 hierarchy, which a container with a
 * private cgroup namespace and no host cgroup mount (enilbd's, on purpose) cannot see. This mounts
 * cgroup2 at a node path in the node's mount namespace, from the node's cgroup namespace (so the
 * mount shows the root cgroup, not the container's); enilbd finds it in its mountinfo through the
 * hostPath volume that holds it, and checks it is the root (inode 1) before attaching.
 *
 * <p>The mount itself must happen in a single-threaded process that has joined the node's mount
 * namespace (setns(2) refuses CLONE_NEWNS to a process sharing its file system attributes, as
 * every JVM thread does): nsenter(1) from the image joins, and the node's own mount(8) mounts, the
 * same binary kubelet runs for every volume. It bind-mounts the node's mount of the root where
 * there is one (a systemd node), else mounts cgroup2 afresh (a cgroup v1 node). Everything else
 * (is it there already, the directory, the check afterwards) goes through the node's root as the
 * process's {@code /proc/PID/root}.
 */
final class CgroupMount {
    static final String TARGET_ENV = "ENILB_CGROUP_MOUNT";
    static final String HOST_PROC_ENV = "ENILB_HOST_PROC";
    static final String HOST_PID_ENV = "ENILB_HOST_PID";
    static final String USAGE = """
            usage: enilbctl cgroup mount
              mount the node's cgroup v2 hierarchy (its root cgroup) at a node path, in the node's
              mount and cgroup namespaces, for enilbd's socket-lb hooks; does nothing when it is
              mounted there already. The DaemonSet's mount-cgroup init container runs it.
            ENILB_CGROUP_MOUNT  the node path (default /run/enilb/cgroupv2)
            ENILB_HOST_PROC     the node's /proc as this container sees it (default /host/proc)
            ENILB_HOST_PID      a process in the node's namespaces (default 1, the node's init)
            It needs SYS_ADMIN (setns, mount), SYS_CHROOT (setns into a mount namespace) and
            SYS_PTRACE (opening the namespaces of a process that has more capabilities).
            Undo on the node with: umount /run/enilb/cgroupv2
            """;
    private static final long NSENTER_TIMEOUT_SECONDS = 30;

    private final PrintStream out;

    CgroupMount(PrintStream out) {
        this.out = out;
    }

    /** The environment's settings, checked; {@link CniInstall.Failed} names a bad one. */
    void mount(Map<String, String> env) throws CniInstall.Failed, IOException {
        Path target = Path.of(env.getOrDefault(TARGET_ENV, "/run/enilb/cgroupv2"));
        Path hostProc = Path.of(env.getOrDefault(HOST_PROC_ENV, "/host/proc"));
        String pid = env.getOrDefault(HOST_PID_ENV, "1");
        if (!target.isAbsolute() || !target.normalize().equals(target) || target.getNameCount() == 0) {
            throw new CniInstall.Failed(TARGET_ENV + " must be an absolute, normalized path other than /: " + target);
        }
        if (!pid.matches("[1-9][0-9]*")) {
            throw new CniInstall.Failed(HOST_PID_ENV + " must be a process id: " + pid);
        }
        mount(target, hostProc.resolve(pid));
    }

    /**
     * Mounts cgroup2 at {@code target} in the namespaces of {@code process} (a /proc/PID
     * directory), unless the hierarchy's root is mounted there already (a restarted pod).
     */
    void mount(Path target, Path process) throws CniInstall.Failed, IOException {
        if (!Files.isDirectory(process.resolve("ns"))) {
            throw new CniInstall.Failed("no process " + process + ": mount the node's /proc there (hostPath /proc)");
        }
        try {
            // the kernel checks ptrace access on a process's namespace links and its root
            Files.readSymbolicLink(process.resolve("ns/mnt"));
        } catch (java.nio.file.AccessDeniedException e) {
            throw new CniInstall.Failed("may not open " + process.resolve("ns/mnt")
                    + ": the container needs SYS_PTRACE (the node's process has capabilities this one has not)");
        }
        Path onNode = onNode(process, target);
        if (mountedAt(target, process, onNode)) {
            out.println("the node's cgroup v2 root is mounted at " + target + " already");
            return;
        }
        Files.createDirectories(onNode);
        // Bind the node's own mount of the root where there is one (systemd makes it): a new
        // cgroup2 mount made from the node's cgroup namespace also resets the whole hierarchy's
        // options (nsdelegate, memory_recursiveprot ...) to the new mount's (the kernel's
        // apply_cgroup_root_flags); a bind changes only the mount table.
        Optional<Path> nodeRoot = nodesRoot(target, process);
        List<String> mount = nodeRoot.map(root -> List.of("mount", "--bind", root.toString(), target.toString()))
                .orElse(List.of("mount", "-t", "cgroup2", "none", target.toString()));
        List<String> nsenter = new ArrayList<>(List.of("nsenter", "--mount=" + process.resolve("ns/mnt"),
                "--cgroup=" + process.resolve("ns/cgroup"), "--"));
        nsenter.addAll(mount);
        String output = run(nsenter);
        if (!mountedAt(target, process, onNode)) {
            throw new CniInstall.Failed(String.join(" ", nsenter) + " left no mount of the root cgroup at " + target
                    + (output.isBlank() ? "" : ": " + output.strip()));
        }
        out.println("mounted the node's cgroup v2 root at " + target);
    }

    /** {@code nodePath} as the node sees it through {@code process}'s root, whatever this container's mounts are. */
    private static Path onNode(Path process, Path nodePath) {
        return process.resolve("root").resolve(nodePath.toString().substring(1));
    }

    /** The node's mount of its hierarchy's root, other than {@code target}, if it has one. */
    private static Optional<Path> nodesRoot(Path target, Path process) throws CniInstall.Failed {
        try {
            for (Path mount : CgroupV2.mounts(process.resolve("mountinfo"))) {
                if (!mount.equals(target) && CgroupV2.isHierarchyRoot(onNode(process, mount))) {
                    return Optional.of(mount);
                }
            }
            return Optional.empty();
        } catch (BpfException e) {
            throw new CniInstall.Failed(e.getMessage());
        }
    }

    /** A cgroup2 mount at {@code target} in the node's mountinfo, and it is the hierarchy's root. */
    private static boolean mountedAt(Path target, Path process, Path onNode) throws CniInstall.Failed {
        try {
            return CgroupV2.mounts(process.resolve("mountinfo")).contains(target) && CgroupV2.isHierarchyRoot(onNode);
        } catch (BpfException e) {
            throw new CniInstall.Failed(e.getMessage());
        }
    }

    private static String run(List<String> command) throws CniInstall.Failed, IOException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        try {
            String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(NSENTER_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new CniInstall.Failed(String.join(" ", command) + " did not finish in " + NSENTER_TIMEOUT_SECONDS + " s");
            }
            if (p.exitValue() != 0) {
                throw new CniInstall.Failed(String.join(" ", command) + " failed (" + p.exitValue() + "): " + output.strip()
                        + " (the container needs SYS_ADMIN, SYS_CHROOT and SYS_PTRACE)");
            }
            return output;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            p.destroyForcibly();
            throw new CniInstall.Failed("interrupted");
        }
    }
}
