package io.enilb.natmap;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class IdAllocatorTest {
    @Test
    void keysKeepTheirIdAndNewKeysGetTheNextIdRollingOverTheRange() {
        IdAllocator<String> ids = new IdAllocator<>(1, 3);
        assertThat(ids.acquire("a")).hasValue(1);
        assertThat(ids.acquire("b")).hasValue(2);
        assertThat(ids.acquire("a")).hasValue(1);
        ids.release("a");
        // a freed id comes back only after the rest of the range
        assertThat(ids.acquire("c")).hasValue(3);
        assertThat(ids.acquire("d")).hasValue(1);
        assertThat(ids.acquire("e")).isEmpty();
        assertThat(ids.ownerOf(2)).isEqualTo("b");
        ids.release("b");
        assertThat(ids.acquire("e")).hasValue(2);
    }

    @Test
    void adoptedAndReservedIdsAreNotHandedOutAndNewIdsContinueAfterTheHighest() {
        IdAllocator<String> ids = new IdAllocator<>(0, 9);
        assertThat(ids.adopt("x", 5)).isTrue();
        assertThat(ids.reserve(2)).isTrue();
        assertThat(ids.adopt("y", 5)).isFalse();
        assertThat(ids.adopt("y", 10)).isFalse();
        assertThat(ids.acquire("z")).hasValue(6);
        assertThat(ids.adopt("w", 2)).isTrue();
        assertThat(ids.isReserved(2)).isFalse();
        assertThat(ids.reserve(8)).isTrue();
        ids.releaseReserved();
        assertThat(ids.acquire("v")).hasValue(9);
        assertThat(ids.acquire("u")).hasValue(0);
        assertThat(ids.acquire("t")).hasValue(1);
        assertThat(ids.acquire("s")).as("2 is w's").hasValue(3);
    }

    @Test
    void idsSpanTheUnsigned32BitSpace() {
        IdAllocator<String> ids = new IdAllocator<>(1, 0xFFFF_FFFFL);
        assertThat(ids.adopt("high", (int) 0xFFFF_FFFEL)).isTrue();
        assertThat(ids.acquire("last")).hasValue((int) 0xFFFF_FFFFL);
        assertThat(ids.acquire("wrapped")).hasValue(1);
        assertThat(ids.ownerOf(-1)).isEqualTo("last");
    }

    @Test
    void handingOutIdsCostsOneProbeEachAtColdSyncAndAfterARestore() {
        IdAllocator<Integer> ids = new IdAllocator<>(1, 0xFFFF_FFFFL);
        for (int k = 0; k < 100_000; k++) {
            ids.acquire(k);
        }
        assertThat(ids.probes()).isEqualTo(100_000);

        IdAllocator<Integer> restored = new IdAllocator<>(1, 0xFFFF_FFFFL);
        // a restore adopts in whatever order the maps list the entries
        for (int k = 100_000; k >= 1; k -= 2) {
            restored.adopt(-k, k);
        }
        for (int k = 0; k < 50_000; k++) {
            assertThat(restored.acquire(k)).hasValue(100_001 + k);
        }
        assertThat(restored.probes()).isEqualTo(50_000);
    }

    @Test
    void afterTheRangeWrapsAnIdInUseIsSkippedOncePerTurn() {
        int range = 10_000;
        IdAllocator<Integer> ids = new IdAllocator<>(1, range);
        java.util.Random rnd = new java.util.Random(1);
        java.util.List<Integer> live = new java.util.ArrayList<>();
        int next = 0;
        // 9 000 long-lived ids and churn: 50 000 ids handed out, five turns of the range
        for (; next < 9_000; next++) {
            ids.acquire(next);
            live.add(next);
        }
        for (int i = 0; i < 41_000; i++, next++) {
            ids.release(live.remove(rnd.nextInt(live.size())));
            assertThat(ids.acquire(next)).isPresent();
            live.add(next);
        }
        // each acquire takes one id; every turn of the range skips each id in use at most once
        long turns = next / (range - 9_000) + 1;
        assertThat(ids.probes()).isLessThanOrEqualTo(next + turns * range);
    }
}
