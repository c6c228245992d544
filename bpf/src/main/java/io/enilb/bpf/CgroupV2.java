package io.enilb.bpf;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * Where the cgroup v2 hierarchy is mounted, read from /proc/self/mountinfo: /sys/fs/cgroup on a
 * unified host, /sys/fs/cgroup/unified on a hybrid one (this lab), absent on a v1-only host.
 */
public final class CgroupV2 {
    private static final Path MOUNTINFO = Path.of("/proc/self/mountinfo");

    private CgroupV2() {
    }

    /** The cgroup2 mount point of this process's mount namespace, if any. */
    public static Optional<Path> root() {
        try {
            return root(Files.readAllLines(MOUNTINFO));
        } catch (IOException e) {
            throw new BpfException("read " + MOUNTINFO, e.toString());
        }
    }

    /**
     * The first cgroup2 mount in mountinfo lines (proc(5): "36 35 98:0 / /mnt1 rw - cgroup2 none rw":
     * the mount point is field 5, the file system type the first field after " - "). The root
     * (field 4 "/") is preferred: a bind mount of a sub-cgroup would scope the programs too narrowly.
     */
    static Optional<Path> root(List<String> mountinfo) {
        Path any = null;
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
            Path mountPoint = Path.of(unescape(before[4]));
            if (before[3].equals("/")) {
                return Optional.of(mountPoint);
            }
            if (any == null) {
                any = mountPoint;
            }
        }
        return Optional.ofNullable(any);
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
