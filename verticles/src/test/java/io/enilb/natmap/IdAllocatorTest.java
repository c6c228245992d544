package io.enilb.natmap;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class IdAllocatorTest {
    @Test
    void keysKeepTheirIdAndNewKeysGetTheLowestFree() {
        IdAllocator<String> ids = new IdAllocator<>(1, 3);
        assertThat(ids.acquire("a")).hasValue(1);
        assertThat(ids.acquire("b")).hasValue(2);
        assertThat(ids.acquire("a")).hasValue(1);
        ids.release("a");
        assertThat(ids.acquire("c")).hasValue(1);
        assertThat(ids.acquire("d")).hasValue(3);
        assertThat(ids.acquire("e")).isEmpty();
        assertThat(ids.ownerOf(2)).isEqualTo("b");
    }

    @Test
    void adoptedAndReservedIdsAreNotHandedOut() {
        IdAllocator<String> ids = new IdAllocator<>(0, 9);
        assertThat(ids.adopt("x", 0)).isTrue();
        assertThat(ids.reserve(1)).isTrue();
        assertThat(ids.adopt("y", 0)).isFalse();
        assertThat(ids.adopt("y", 10)).isFalse();
        assertThat(ids.acquire("z")).hasValue(2);
        assertThat(ids.adopt("w", 1)).isTrue();
        assertThat(ids.isReserved(1)).isFalse();
        assertThat(ids.reserve(3)).isTrue();
        ids.releaseReserved();
        assertThat(ids.acquire("v")).hasValue(3);
    }
}
