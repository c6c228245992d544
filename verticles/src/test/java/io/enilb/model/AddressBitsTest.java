package io.enilb.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class AddressBitsTest {
    @Test
    void anAddressAsBitsTellsItsFamilyAndComesBackAsCanonicalText() {
        byte[] v4 = AddressBits.parse("198.18.0.10");
        assertThat(AddressBits.high(v4)).isZero();
        assertThat(AddressBits.low(v4)).isEqualTo(0x0000_FFFF_C612_000AL);
        assertThat(AddressBits.family(AddressBits.high(v4), AddressBits.low(v4))).isEqualTo(IpFamily.IPV4);
        assertThat(AddressBits.ipv4(AddressBits.high(v4), AddressBits.low(v4))).isEqualTo(0xC612_000A);
        assertThat(AddressBits.text(AddressBits.high(v4), AddressBits.low(v4))).isEqualTo("198.18.0.10");

        byte[] v6 = AddressBits.parse("2001:DB8:18:0:0:0:0:A");
        assertThat(AddressBits.high(v6)).isEqualTo(0x2001_0DB8_0018_0000L);
        assertThat(AddressBits.low(v6)).isEqualTo(0xAL);
        assertThat(AddressBits.family(AddressBits.high(v6), AddressBits.low(v6))).isEqualTo(IpFamily.IPV6);
        assertThat(AddressBits.text(AddressBits.high(v6), AddressBits.low(v6))).isEqualTo("2001:db8:18::a");
        assertThatThrownBy(() -> AddressBits.ipv4(AddressBits.high(v6), AddressBits.low(v6)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("2001:db8:18::a");
    }

    @Test
    void onlyPlainAddressesParse() {
        // IPv4-mapped text would be taken for IPv4 bits: refused, as IpFamily.canonical refuses it
        assertThat(AddressBits.parse("::ffff:10.0.0.1")).isNull();
        assertThat(AddressBits.parse("fe80::1%eth0")).isNull();
        assertThat(AddressBits.parse("web.default")).isNull();
        assertThat(AddressBits.parse("10.0.0.999")).isNull();
        assertThat(AddressBits.parse(null)).isNull();
        assertThat(AddressBits.parse(" 10.0.0.1 ")).containsExactly(10, 0, 0, 1);
    }

    @Test
    void dottedQuadsParseAsGuavaParsesThem() {
        for (String text : new String[] {"0.0.0.0", "255.255.255.255", "198.18.0.10", "10.0.0.0", "1.2.3.4",
                "010.0.0.1", "10.00.0.1", "1.2.3", "1.2.3.4.5", "1..2.3", ".1.2.3", "1.2.3.", "1.2.3.256",
                "1.2.3.1000", "1.2.3.-1", "1.2.3.+1", "\u0661.2.3.4", "1.2.3.4a"}) {
            byte[] guava = com.google.common.net.InetAddresses.isInetAddress(text)
                    ? com.google.common.net.InetAddresses.forString(text).getAddress() : null;
            assertThat(AddressBits.parse(text)).as(text).isEqualTo(guava);
        }
    }

    @Test
    void aDottedQuadParsesIntoItsFourBytesAlone() {
        com.sun.management.ThreadMXBean threads =
                (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        String[] texts = new String[1000];
        for (int i = 0; i < texts.length; i++) {
            texts[i] = "198.18." + (i / 250) + "." + (i % 250 + 1);
        }
        long least = Long.MAX_VALUE;
        for (int round = 0; round < 5; round++) {
            long before = threads.getCurrentThreadAllocatedBytes();
            for (String text : texts) {
                AddressBits.parse(text);
            }
            least = Math.min(least, threads.getCurrentThreadAllocatedBytes() - before);
        }
        // the 4-byte array (24 bytes with its header); through InetAddresses.forString: 120
        assertThat(least / texts.length).as("bytes allocated per address").isLessThanOrEqualTo(24);
    }

    @Test
    void addressesOfAFamilyCompareNumerically() {
        assertThat(compare("10.0.0.2", "10.0.0.10")).isNegative();
        assertThat(compare("200.0.0.1", "10.0.0.1")).isPositive();
        assertThat(compare("2001:db8::2", "2001:db8::10")).isNegative();
        assertThat(compare("ffff::1", "2001:db8::1")).isPositive();
        assertThat(compare("10.0.0.1", "10.0.0.1")).isZero();
    }

    @Test
    void aBackendKeepsItsAddressAsBitsAndItsPortAndState() {
        Backend b = new Backend("2001:db8:18::1", 65535, Backend.State.TERMINATING);
        assertThat(b.ip()).isEqualTo("2001:db8:18::1");
        assertThat(b.family()).isEqualTo(IpFamily.IPV6);
        assertThat(b.port()).isEqualTo(65535);
        assertThat(b.state()).isEqualTo(Backend.State.TERMINATING);
        assertThat(b.withState(Backend.State.ACTIVE)).isEqualTo(new Backend("2001:db8:18::1", 65535, Backend.State.ACTIVE));
        assertThat(b.withState(Backend.State.TERMINATING)).isSameAs(b);
        assertThat(b).isNotEqualTo(b.withState(Backend.State.ACTIVE));
        assertThat(Backend.of(b.addressHigh(), b.addressLow(), 65535, Backend.State.TERMINATING)).isEqualTo(b)
                .hasSameHashCodeAs(b);
        assertThat(new Backend("198.18.0.1", 80, Backend.State.ACTIVE)).hasToString("198.18.0.1:80");

        assertThatThrownBy(() -> new Backend("198.18.0.256", 80, Backend.State.ACTIVE))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("198.18.0.256");
        assertThatThrownBy(() -> new Backend("198.18.0.1", 0, Backend.State.ACTIVE))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("port");
        assertThatThrownBy(() -> new Backend("198.18.0.1", 65536, Backend.State.ACTIVE))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("port");
    }

    private static int compare(String a, String b) {
        byte[] x = AddressBits.parse(a);
        byte[] y = AddressBits.parse(b);
        return AddressBits.compare(AddressBits.high(x), AddressBits.low(x), AddressBits.high(y), AddressBits.low(y));
    }
}
