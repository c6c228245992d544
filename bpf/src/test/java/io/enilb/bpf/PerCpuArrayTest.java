package io.enilb.bpf;

import static org.assertj.core.api.Assertions.assertThat;

import io.enilb.bpf.Structs.SvcStats;
import java.lang.management.ManagementFactory;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The per-service counters read in bulk from the kernel (as root, a real per-CPU array). */
class PerCpuArrayTest {
    private DatapathFixture dp;

    @BeforeEach
    void load() {
        // more indexes than one batch lookup returns (4096)
        dp = new DatapathFixture(Map.of(BpfObject.MapNames.SERVICE_STATS, 6000));
    }

    @AfterEach
    void unload() {
        if (dp != null) {
            dp.close();
        }
    }

    @Test
    void sumFirstCountersReadsTheFirstIndexesSummedOverTheCpusWordByWord() {
        PerCpuArray<SvcStats> stats = dp.maps.serviceStats();
        stats.setAll(3, new SvcStats(1, 10, 2));
        stats.setAll(5000, new SvcStats(7, 70, 9));
        SvcStats three = stats.sum(3, SvcStats.ZERO, SvcStats::plus);
        assertThat(three.packets()).as("one per CPU").isPositive();

        long[] first = stats.sumFirstCounters(4);
        assertThat(first).hasSize(4 * 3).startsWith(new long[9])
                .endsWith(three.packets(), three.bytes(), three.newFlows());

        // more than one batch (4096 indexes per syscall)
        long[] more = stats.sumFirstCounters(5001);
        SvcStats last = stats.sum(5000, SvcStats.ZERO, SvcStats::plus);
        assertThat(more).hasSize(5001 * 3).endsWith(last.packets(), last.bytes(), last.newFlows());
        assertThat(Arrays.copyOfRange(more, 9, 12)).containsExactly(three.packets(), three.bytes(), three.newFlows());

        assertThat(stats.sumFirstCounters(Integer.MAX_VALUE)).hasSize(6000 * 3);
        assertThat(stats.sumFirstCounters(0)).isEmpty();
    }

    @Test
    void sumFirstCountersMakesNothingPerIndex() {
        PerCpuArray<SvcStats> stats = dp.maps.serviceStats();
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long least = Long.MAX_VALUE;
        for (int i = 0; i < 5; i++) {
            long before = threads.getCurrentThreadAllocatedBytes();
            stats.sumFirstCounters(6000);
            least = Math.min(least, threads.getCurrentThreadAllocatedBytes() - before);
        }
        // the result (24 bytes an index) and a few native buffers; decoding each value made 548 bytes an index (2 CPUs)
        assertThat(least / 6000).as("bytes allocated per index").isLessThan(32);
    }
}
