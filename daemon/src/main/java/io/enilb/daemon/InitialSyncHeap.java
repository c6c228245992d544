package io.enilb.daemon;

import com.sun.management.HotSpotDiagnosticMXBean;
import java.lang.management.ManagementFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The heap's two phases. The launcher keeps the heap tight for the steady state
 * ({@code -XX:MinHeapFreeRatio=10 -XX:MaxHeapFreeRatio=30}: RSS near the live set). During the
 * initial sync the live set grows from nothing to its full size (70 MiB at 10 000 Services, 280
 * at 50 000), and with 10 % free after a collection the serial collector ran out of room after
 * every tenth of growth: 18 – 20 full collections at 10 000 Services, 29 (7 s of pauses) at
 * 50 000 ({@code -Xlog:gc}, docs/BENCHMARKS.md). So until the daemon is ready the heap keeps
 * room ({@link #SYNC_MIN} % free at least, {@link #SYNC_MAX} % at most), and once ready the
 * launcher's ratios come back and four full collections return what the listing took (the
 * serial collector damps shrinking over successive full collections: 0 %, 10 %, 40 %, then 100 %
 * of the excess), down to the launcher's least free space: a heap that grew under its ratios
 * would be no bigger.
 * Both ratios are manageable flags: set at run time through the HotSpot diagnostic bean.
 */
final class InitialSyncHeap {
    private static final Logger LOG = LoggerFactory.getLogger(InitialSyncHeap.class);
    private static final String MIN = "MinHeapFreeRatio";
    private static final String MAX = "MaxHeapFreeRatio";
    /**
     * Room to grow: the heap keeps 70 % free after a collection during the sync. With the JVM's
     * defaults (40 % / 70 %) a 50 000-Service sync took 11 full collections, with these 5 (1.1 s of
     * pauses less, docs/BENCHMARKS.md); what the sync took is given back once ready either way.
     */
    private static final int SYNC_MIN = 70;
    private static final int SYNC_MAX = 90;

    private final HotSpotDiagnosticMXBean vm;
    private final String steadyMin;
    private final String steadyMax;

    private InitialSyncHeap(HotSpotDiagnosticMXBean vm) {
        this.vm = vm;
        this.steadyMin = vm.getVMOption(MIN).getValue();
        this.steadyMax = vm.getVMOption(MAX).getValue();
    }

    /** Gives the heap room to grow for the initial sync (never less than the launcher's ratios). */
    static InitialSyncHeap roomForTheSync() {
        InitialSyncHeap heap = new InitialSyncHeap(ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class));
        // max before min: the JVM refuses a minimum above the maximum
        heap.set(MAX, Integer.toString(Math.max(SYNC_MAX, Integer.parseInt(heap.steadyMax))));
        heap.set(MIN, Integer.toString(Math.max(SYNC_MIN, Integer.parseInt(heap.steadyMin))));
        return heap;
    }

    /** A heap sizing flag; a JVM that refuses it keeps its value (the heap is then only less tight). */
    private void set(String flag, String value) {
        try {
            vm.setVMOption(flag, value);
        } catch (RuntimeException e) {
            LOG.warn("heap: {} stays {} ({})", flag, vm.getVMOption(flag).getValue(), e.getMessage());
        }
    }

    /**
     * Once ready: the launcher's ratios again, and the collections that shrink the heap to them,
     * on a thread of their own. Call once.
     */
    void giveBack() {
        // min before max, for the same reason; the collections shrink to the least free space the
        // launcher allows (what the heap had when it grew under those ratios), then the most applies
        set(MIN, steadyMin);
        set(MAX, steadyMin);
        Thread t = new Thread(() -> {
            Runtime rt = Runtime.getRuntime();
            long before = rt.totalMemory();
            for (int i = 0; i < 4; i++) {
                System.gc();
            }
            set(MAX, steadyMax);
            LOG.info("heap after the initial sync: {} MiB committed, {} MiB before the collection, {} MiB in use",
                    rt.totalMemory() >> 20, before >> 20, (rt.totalMemory() - rt.freeMemory()) >> 20);
        }, "enilbd-heap");
        t.setDaemon(true);
        t.start();
    }
}
