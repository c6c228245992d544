package io.enilb.bpf;

import static org.assertj.core.api.Assertions.assertThat;

import io.enilb.bpf.Structs.SvcStats;
import java.util.List;
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
    void sumFirstReadsTheFirstIndexesSummedOverTheCpus() {
        PerCpuArray<SvcStats> stats = dp.maps.serviceStats();
        stats.setAll(3, new SvcStats(1, 10, 1));
        stats.setAll(5000, new SvcStats(7, 70, 7));
        SvcStats three = stats.sum(3, SvcStats.ZERO, SvcStats::plus);
        assertThat(three.packets()).as("one per CPU").isPositive();

        List<SvcStats> first = stats.sumFirst(4, SvcStats.ZERO, SvcStats::plus);
        assertThat(first).hasSize(4).containsExactly(SvcStats.ZERO, SvcStats.ZERO, SvcStats.ZERO, three);

        // more than one batch (4096 indexes per syscall)
        List<SvcStats> more = stats.sumFirst(5001, SvcStats.ZERO, SvcStats::plus);
        assertThat(more).hasSize(5001);
        assertThat(more.get(3)).isEqualTo(three);
        assertThat(more.get(5000)).isEqualTo(stats.sum(5000, SvcStats.ZERO, SvcStats::plus));

        assertThat(stats.sumFirst(Integer.MAX_VALUE, SvcStats.ZERO, SvcStats::plus)).hasSize(6000);
        assertThat(stats.sumFirst(0, SvcStats.ZERO, SvcStats::plus)).isEmpty();
    }
}
