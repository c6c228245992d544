package io.enilb.bpf;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Predicate;

/**
 * Where the cgroup v2 hierarchy is mounted, read from /proc/self/mountinfo: /sys/fs/cgroup on a
 * unified host, /sys/fs/cgroup/unified on a hybrid one (this lab), /run/enilb/cgroupv2 in the
 * DaemonSet (its mount-cgroup init container), absent on a v1-only host.
 */
public final class CgroupV2 {
    private static final Path MOUNTINFO = Path.of("/proc/self/mountinfo");

    private CgroupV2() {
    }

    /**
     * The cgroup2 mount of this process's mount namespace to attach at: the first that is the
     * root of the host's hierarchy ({@link #isHierarchyRoot}), else the first there is. In a
     * container with a private cgroup namespace, the runtime's own /sys/fs/cgroup shows the
     * container's cgroup, while a mount the DaemonSet's init container made in the host's cgroup
     * namespace (/run/enilb/cgroupv2) is the host's root: that one wins wherever it is listed.
     */
    public static Optional<Path> root() {
        return root(mounts(MOUNTINFO), CgroupV2::isHierarchyRoot);
    }

    static Optional<Path> root(List<Path> mounts, Predicate<Path> isHierarchyRoot) {
        return mounts.stream().filter(isHierarchyRoot).findFirst().or(() -> mounts.stream().findFirst());
    }

    /** The cgroup2 mount points in a mountinfo file (of this process or, under /proc, of another). */
    public static List<Path> mounts(Path mountinfo) {
        try {
            return mounts(Files.readAllLines(mountinfo));
        } catch (IOException e) {
            throw new BpfException("read " + mountinfo, e.toString());
        }
    }

    /**
     * The cgroup2 mount points of mountinfo lines (proc(5): "36 35 98:0 / /mnt1 rw - cgroup2 none rw":
     * the mount point is field 5, the file system type the first field after " - "), those whose
     * root (field 4) is "/" first: a bind mount of a sub-cgroup would scope the programs too narrowly.
     */
    static List<Path> mounts(List<String> mountinfo) {
        List<Path> roots = new ArrayList<>();
        List<Path> others = new ArrayList<>();
        for (String line : mountinfo) {
            int dash = line.indexOf(" - ");
            if (dash < 0) {
                continue;
            }
            String[] after = line.substring(dash + 3).split(" ");
            String[] before = line.substring(0, dash).split(" ");
            if (after.length < 1 || !after[0].equals("cgroup2") || before.length < 5) {
                continue;
            }
            (before[3].equals("/") ? roots : others).add(Path.of(unescape(before[4])));
        }
        roots.addAll(others);
        return roots;
    }

    /** The inode of the hierarchy's root cgroup: cgroup ids are kernfs node ids, and the root's is 1. */
    private static final long ROOT_CGROUP_ID = 1;

    /**
     * Whether {@code mount} is the root of the host's cgroup v2 hierarchy. In a private cgroup
     * namespace (a container's default) mountinfo shows the container's own cgroup as "/": hooks
     * attached there would see only the container's processes, never the pods'.
     */
    public static boolean isHierarchyRoot(Path mount) {
        try {
            return ((Long) Files.getAttribute(mount, "unix:ino")) == ROOT_CGROUP_ID;
        } catch (IOException | UnsupportedOperationException e) {
            throw new BpfException("stat cgroup " + mount, e.toString());
        }
    }

    /** mountinfo escapes space, tab, newline and backslash as \\ooo. */
    private static String unescape(String field) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < field.length(); i++) {
            char c = field.charAt(i);
            if (c == '\\' && i + 3 < field.length()) {
                out.append((char) Integer.parseInt(field.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }
}
