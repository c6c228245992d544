package io.enilb.daemon;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.sun.management.HotSpotDiagnosticMXBean;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The heap's free ratios: room during the initial sync, the launcher's once ready (this JVM's flags, restored after). */
class InitialSyncHeapTest {
    private final HotSpotDiagnosticMXBean vm = ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class);
    private String min;
    private String max;

    @BeforeEach
    void launcherRatios() {
        min = value("MinHeapFreeRatio");
        max = value("MaxHeapFreeRatio");
        vm.setVMOption("MinHeapFreeRatio", "10");
        vm.setVMOption("MaxHeapFreeRatio", "30");
    }

    @AfterEach
    void restore() {
        vm.setVMOption("MinHeapFreeRatio", "0");
        vm.setVMOption("MaxHeapFreeRatio", max);
        vm.setVMOption("MinHeapFreeRatio", min);
    }

    private String value(String flag) {
        return vm.getVMOption(flag).getValue();
    }

    @Test
    void theSyncGetsRoomAndTheLaunchersRatiosComeBackOnceReady() {
        InitialSyncHeap heap = InitialSyncHeap.roomForTheSync();
        assertThat(value("MinHeapFreeRatio")).isEqualTo("70");
        assertThat(value("MaxHeapFreeRatio")).isEqualTo("90");

        heap.giveBack();
        assertThat(value("MinHeapFreeRatio")).isEqualTo("10");
        // the shrink runs at the least free space, then the most comes back
        await().atMost(Duration.ofSeconds(60)).until(() -> value("MaxHeapFreeRatio").equals("30"));
    }
}
