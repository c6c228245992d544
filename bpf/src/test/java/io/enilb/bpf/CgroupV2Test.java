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
        assertThat(CgroupV2.root(mountinfo)).contains(Path.of("/sys/fs/cgroup/unified"));
    }

    @Test
    void theRootOfTheHierarchyWinsOverABindMountOfASubCgroup() {
        List<String> mountinfo = List.of(
                "40 30 0:23 /kubepods /var/lib/kubelet/cg rw - cgroup2 cgroup2 rw",
                "41 30 0:23 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw");
        assertThat(CgroupV2.root(mountinfo)).contains(Path.of("/sys/fs/cgroup"));
    }

    @Test
    void escapedSpacesInTheMountPointAreDecoded() {
        List<String> mountinfo = List.of("41 30 0:23 / /mnt/my\\040cgroup rw - cgroup2 cgroup2 rw");
        assertThat(CgroupV2.root(mountinfo)).contains(Path.of("/mnt/my cgroup"));
    }

    @Test
    void aV1OnlyHostHasNone() {
        assertThat(CgroupV2.root(List.of(V1))).isEmpty();
    }

    @Test
    void thisHostHasOne() {
        assertThat(CgroupV2.root()).as("the lab needs cgroup v2 for the socket hooks").isPresent();
    }
}
