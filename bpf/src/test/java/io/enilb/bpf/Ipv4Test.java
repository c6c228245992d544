package io.enilb.bpf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class Ipv4Test {
    @Test
    void parsesDottedQuadsAndFormatsThemBack() {
        assertThat(Ipv4.parse("198.19.0.1")).isEqualTo(0xC6130001);
        assertThat(Ipv4.parse("0.0.0.0")).isZero();
        assertThat(Ipv4.parse("255.255.255.255")).isEqualTo(-1);
        assertThat(Ipv4.parse("010.001.0.9")).isEqualTo(0x0A010009);
        assertThat(Ipv4.format(Ipv4.parse("10.96.0.10"))).isEqualTo("10.96.0.10");
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "1.2.3", "1.2.3.4.5", "1.2.3.", ".1.2.3", "1..2.3", "256.0.0.1", "1.2.3.1000",
            "1.2.3.-4", "a.b.c.d", "1.2.3.4 ", " 1.2.3.4", "::1", "1.2.3.\u0664"})
    void rejectsAnythingElse(String text) {
        assertThatThrownBy(() -> Ipv4.parse(text)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("not an IPv4 address");
    }
}
