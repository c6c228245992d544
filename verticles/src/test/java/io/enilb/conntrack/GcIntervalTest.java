package io.enilb.conntrack;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.enilb.conntrack.ConntrackTable.Sweep;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class GcIntervalTest {
    private final GcInterval bounds = new GcInterval(Duration.ofSeconds(1), Duration.ofSeconds(300));
    private final Duration minute = Duration.ofSeconds(60);

    private static Sweep pass(long removed, long live) {
        return new Sweep(removed + live, removed, live, 1000, Duration.ofMillis(3));
    }

    @Test
    void aPassThatRemovedMuchShortensTheIntervalAndOneThatRemovedLittleLengthensIt() {
        assertThat(bounds.next(minute, pass(500, 100), 0, false)).isEqualTo(Duration.ofSeconds(30));
        assertThat(bounds.next(minute, pass(950, 10), 0, false)).as("at most 10x").isEqualTo(Duration.ofSeconds(6));
        assertThat(bounds.next(minute, pass(100, 100), 0, false)).as("in between: unchanged").isEqualTo(minute);
        assertThat(bounds.next(minute, pass(10, 100), 0, false)).isEqualTo(Duration.ofSeconds(90));
        assertThat(bounds.next(minute, pass(10, 600), 0, false)).as("a crowded table is not left longer").isEqualTo(minute);
    }

    @Test
    void refusedFlowsAndFastGrowthBringTheNextPassForward() {
        assertThat(bounds.next(minute, pass(0, 1000), 0, true)).isEqualTo(Duration.ofSeconds(1));
        // 400 free entries, 20 new per second: full in 20 s, so the next pass comes within 10 s
        assertThat(bounds.next(minute, pass(10, 600), 20, false)).isEqualTo(Duration.ofSeconds(10));
    }

    @Test
    void theIntervalStaysWithinItsBounds() {
        assertThat(bounds.next(Duration.ofSeconds(250), pass(0, 0), 0, false)).isEqualTo(Duration.ofSeconds(300));
        assertThat(bounds.next(Duration.ofSeconds(2), pass(900, 0), 0, false)).isEqualTo(Duration.ofSeconds(1));
        assertThat(bounds.initial()).isEqualTo(Duration.ofSeconds(300));
        assertThatThrownBy(() -> new GcInterval(Duration.ofSeconds(5), Duration.ofSeconds(1)))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
