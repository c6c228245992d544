package io.enilb.bpf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** accept_local through RTM_SETLINK in a namespace of its own, checked against what /proc/sys shows. */
@org.junit.jupiter.api.Tag("kernel") // root, BPF and network namespaces: left out by -DexcludedGroups=kernel
class RtnetlinkTest {
    private TestNamespace ns;
    private NetnsRunner runner;
    private final Rtnetlink rtnetlink = new Rtnetlink();

    @BeforeEach
    void create() {
        ns = new TestNamespace();
        runner = new NetnsRunner();
    }

    @AfterEach
    void remove() {
        runner.close();
        ns.close();
    }

    @Test
    void setsAcceptLocalOnTheNamespacesLoopbackOnly() {
        String hostBefore = TestNamespace.run("cat", "/proc/sys/net/ipv4/conf/lo/accept_local").strip();
        assertThat(ns.sysctl("ipv4/conf/lo/accept_local")).isEqualTo("0");

        runner.call(ns.path(), () -> {
            rtnetlink.setIpv4DevConf(Bpf.get().libc.if_nametoindex("lo"), "lo", Rtnetlink.IPV4_DEVCONF_ACCEPT_LOCAL, 1);
            return null;
        });

        assertThat(ns.sysctl("ipv4/conf/lo/accept_local")).isEqualTo("1");
        assertThat(TestNamespace.run("cat", "/proc/sys/net/ipv4/conf/lo/accept_local").strip()).isEqualTo(hostBefore);
    }

    @Test
    void aDeviceThatDoesNotExistIsTheKernelsErrorAndChangesNothing() {
        assertThatThrownBy(() -> runner.call(ns.path(), () -> {
            rtnetlink.setIpv4DevConf(424242, "nope0", Rtnetlink.IPV4_DEVCONF_ACCEPT_LOCAL, 1);
            return null;
        })).isInstanceOf(BpfException.class).hasMessageContaining("nope0").hasMessageContaining("ENODEV");
        assertThat(ns.sysctl("ipv4/conf/lo/accept_local")).isEqualTo("0");
    }

    @Test
    void anIndexOutsideTheDevconfTableIsRefusedByTheKernel() {
        assertThatThrownBy(() -> runner.call(ns.path(), () -> {
            rtnetlink.setIpv4DevConf(1, "lo", (short) 999, 1);
            return null;
        })).isInstanceOf(BpfException.class).hasMessageContaining("EINVAL");
    }
}
