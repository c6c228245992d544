package io.enilb.ctl;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.enilb.bpf.CgroupV2;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * enilbctl cgroup mount, the parts that change nothing: bad settings, a missing node /proc, and a
 * node whose root is mounted already (this machine's, seen through /proc/self). The mount itself,
 * from the image with the manifest's capabilities, is DaemonSetImageTest's.
 */
class CgroupMountTest {
    private final ByteArrayOutputStream stdout = new ByteArrayOutputStream();
    private final CgroupMount command = new CgroupMount(new PrintStream(stdout, true, StandardCharsets.UTF_8));

    @Test
    void badSettingsAreRefusedBeforeAnythingIsTouched(@TempDir Path dir) {
        Map<String, String> relative = Map.of("ENILB_CGROUP_MOUNT", "run/enilb/cgroupv2", "ENILB_HOST_PROC", dir.toString());
        assertThatThrownBy(() -> command.mount(relative)).hasMessageContaining("absolute");
        Map<String, String> dotted = Map.of("ENILB_CGROUP_MOUNT", "/run/../etc", "ENILB_HOST_PROC", dir.toString());
        assertThatThrownBy(() -> command.mount(dotted)).hasMessageContaining("normalized");
        Map<String, String> pid = Map.of("ENILB_HOST_PID", "1; rm", "ENILB_HOST_PROC", dir.toString());
        assertThatThrownBy(() -> command.mount(pid)).hasMessageContaining("process id");
        assertThat(dir).isEmptyDirectory();
    }

    @Test
    void withoutTheNodesProcItSaysWhatToMount(@TempDir Path dir) {
        assertThatThrownBy(() -> command.mount(Map.of("ENILB_HOST_PROC", dir.toString())))
                .hasMessageContaining("mount the node's /proc there");
        assertThat(dir).isEmptyDirectory();
    }

    @Test
    void aRootMountedAlreadyIsLeftAsItIs() throws Exception {
        Path root = CgroupV2.root().orElseThrow(() -> new AssertionError("the lab needs cgroup v2"));
        String mountsBefore = Files.readString(Path.of("/proc/self/mountinfo"));
        command.mount(root, Path.of("/proc/self"));
        assertThat(stdout.toString(StandardCharsets.UTF_8)).contains("mounted at " + root + " already");
        assertThat(Files.readString(Path.of("/proc/self/mountinfo"))).isEqualTo(mountsBefore);
    }
}
