package io.enilb.bpf;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;

class CgroupV2Test {
    private static final String V1 = "30 25 0:26 / /sys/fs/cgroup/cpu rw,nosuid - cgroup cgroup rw,cpu";

    @Test
    void aHybridHostHasItsUnifiedHierarchyUnderCgroup() {
        List<String> mountinfo = List.of(
                "25 1 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755",
                "26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate", V1);
        assertThat(CgroupV2.mounts(mountinfo)).containsExactly(Path.of("/sys/fs/cgroup/unified"));
    }

    @Test
    void theRootOfTheHierarchyWinsOverABindMountOfASubCgroup() {
        List<String> mountinfo = List.of(
                "40 30 0:23 /kubepods /var/lib/kubelet/cg rw - cgroup2 cgroup2 rw",
                "41 30 0:23 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw");
        assertThat(CgroupV2.mounts(mountinfo)).containsExactly(Path.of("/sys/fs/cgroup"), Path.of("/var/lib/kubelet/cg"));
    }

    @Test
    void escapedSpacesInTheMountPointAreDecoded() {
        List<String> mountinfo = List.of("41 30 0:23 / /mnt/my\\040cgroup rw - cgroup2 cgroup2 rw");
        assertThat(CgroupV2.mounts(mountinfo)).containsExactly(Path.of("/mnt/my cgroup"));
    }

    @Test
    void aV1OnlyHostHasNone() {
        assertThat(CgroupV2.mounts(List.of(V1))).isEmpty();
        assertThat(CgroupV2.root(List.of(), p -> true)).isEmpty();
    }

    /**
     * The DaemonSet's enilbd: a private cgroup namespace, where the runtime's /sys/fs/cgroup is the
     * container's own cgroup shown as "/", and the host's root mounted by the mount-cgroup init
     * container, shown relative to the container's cgroup.
     */
    @Test
    void inAContainerTheHostsRootMountedByTheInitContainerWinsOverTheContainersOwn() {
        List<String> mountinfo = List.of(
                "700 690 0:38 / /sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 rw",
                "712 690 0:38 /../../.. /run/enilb/cgroupv2 rw,relatime - cgroup2 none rw");
        List<Path> mounts = CgroupV2.mounts(mountinfo);
        assertThat(mounts).containsExactly(Path.of("/sys/fs/cgroup"), Path.of("/run/enilb/cgroupv2"));
        assertThat(CgroupV2.root(mounts, p -> p.equals(Path.of("/run/enilb/cgroupv2"))))
                .contains(Path.of("/run/enilb/cgroupv2"));
        // none is the root: the first, for the message that says why the hooks cannot attach
        assertThat(CgroupV2.root(mounts, p -> false)).contains(Path.of("/sys/fs/cgroup"));
    }

    @Test
    void thisHostHasOne() {
        assertThat(CgroupV2.root()).as("the lab needs cgroup v2 for the socket hooks").isPresent();
    }
}
