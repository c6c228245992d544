package io.enilb.bench;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** The call-chain report of a short-connection profile, on samples as {@code perf script -F comm,ip,sym} prints them. */
class PerfCostsTest {
    private static final String SCRIPT = """
            wrk\s
            \tffffffff81 bpf_selem_alloc
            \tffffffff82 bpf_local_storage_update
            \tffffffff83 bpf_sk_storage_get
            \tffffffffa0 bpf_prog_2fc0c962d11a388c_enilb_connect4
            \tffffffff84 __cgroup_bpf_run_filter_sock_addr
            \tffffffff85 tcp_v4_pre_connect

            wrk\s
            \tffffffff86 lookup_nulls_elem_raw
            \tffffffffa1 bpf_prog_e6e2d509753d9c7c_enilb_ingress
            \tffffffff87 cls_bpf_classify
            \tffffffff88 tcf_classify

            bench-nginx\s
            \tffffffff89 _raw_spin_unlock_irqrestore
            \tffffffff8a bpf_local_storage_destroy
            \tffffffff8b bpf_sk_storage_free
            \tffffffff8c __sk_destruct

            swapper\s
            \tffffffff8d pv_native_safe_halt
            \tffffffff8e default_idle

            bench-nginx\s
            \tffffffff8f tcp_v4_rcv
            """;

    @Test
    void eachSampleCountsInEveryPartItsChainPassesThrough() {
        assertThat(PerfCosts.chains(SCRIPT)).hasSize(5);
        String report = PerfCosts.report(SCRIPT, 2000);

        // 4 busy samples (the idle one left out) over 2 000 requests: 2 per 1 000
        assertThat(report).startsWith("5 samples (cpu-clock, all CPUs), 4 busy: 2.0 busy samples per 1 000 requests");
        assertThat(line(report, "tc on the pod's NIC")).contains(" 0.50 ").contains("(25.0 % of busy)");
        assertThat(line(report, "of which enilb's tc programs")).contains(" 0.50 ");
        assertThat(line(report, "cgroup socket hooks")).contains(" 0.50 ");
        assertThat(line(report, "of which connect4")).contains(" 0.50 ");
        assertThat(line(report, "of which getpeername4")).contains(" 0.00 ");
        // the allocation inside connect4 and the free at close
        assertThat(line(report, "socket storage")).contains(" 1.00 ");
        assertThat(line(report, "of which freed at the socket's close")).contains(" 0.50 ");
    }

    private static String line(String report, String part) {
        return report.lines().filter(l -> l.contains(part)).findFirst().orElseThrow();
    }
}
