package io.enilb.model;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class IpFamilyTest {
    @Test
    void canonicalTextOfAddresses() {
        assertThat(IpFamily.canonical(" 10.0.0.1 ")).isEqualTo("10.0.0.1");
        assertThat(IpFamily.canonical("2001:DB8:0:0:0:0:0:1")).isEqualTo("2001:db8::1");
        assertThat(IpFamily.canonical("::ffff:10.0.0.1")).isNull();
        assertThat(IpFamily.canonical("fe80::1%eth0")).isNull();
        assertThat(IpFamily.canonical("web.default")).isNull();
        assertThat(IpFamily.canonical(null)).isNull();
    }

    @Test
    void canonicalTextComesBackAsTheSameInstance() {
        String ipv4 = new String("198.18.0.10");
        String ipv6 = new String("2001:db8:18::a");
        assertThat(IpFamily.canonical(ipv4)).isSameAs(ipv4);
        assertThat(IpFamily.canonical(ipv6)).isSameAs(ipv6);
    }
}
