package io.enilb.bpf;

import java.nio.charset.StandardCharsets;
import java.util.List;

import jnr.ffi.Pointer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * libbpf's messages through SLF4J (logger {@code io.enilb.bpf.libbpf}) instead of stderr:
 * warnings as warnings, the rest at debug. libbpf prints the kernel's netlink message for every
 * failed tc request, also for answers {@link Tc} asks for on purpose; those go to debug: "Cannot
 * find specified filter chain" (bpf_tc_query on a hook without filter: no enilb filter yet, on
 * every first attach), "Filter with specified priority/protocol not found" (the same where
 * others have filters), "Exclusivity flag on, cannot modify" (bpf_tc_hook_create where the
 * clsact qdisc exists already) and "Parent Qdisc doesn't exists" (bpf_tc_query on a device with
 * no clsact qdisc: where enilb's programs are tcx links, whether an earlier daemon left a filter).
 */
final class LibBpfLog implements LibBpf.PrintFn {
    private static final Logger LOG = LoggerFactory.getLogger("io.enilb.bpf.libbpf");
    private static final int LIBBPF_WARN = 0;
    private static final int LIBBPF_INFO = 1;
    private static final int BUFFER = 1024;
    static final List<String> EXPECTED_ANSWERS = List.of("Cannot find specified filter chain",
            "Filter with specified priority/protocol not found", "Exclusivity flag on, cannot modify",
            "Parent Qdisc doesn't exists");

    private final LibC libc;
    private final Bpf bpf;

    LibBpfLog(Bpf bpf) {
        this.bpf = bpf;
        this.libc = bpf.libc;
    }

    @Override
    public int print(int level, String format, Pointer args) {
        if (!LOG.isWarnEnabled() || (level != LIBBPF_WARN && !LOG.isDebugEnabled() && !LOG.isInfoEnabled())) {
            return 0;
        }
        Pointer buffer = bpf.allocate(BUFFER);
        int n = libc.vsnprintf(buffer, BUFFER, format, args);
        if (n <= 0) {
            return 0;
        }
        byte[] bytes = new byte[Math.min(n, BUFFER - 1)];
        buffer.get(0, bytes, 0, bytes.length);
        String message = new String(bytes, StandardCharsets.UTF_8).strip();
        if (level == LIBBPF_WARN && EXPECTED_ANSWERS.stream().noneMatch(message::contains)) {
            LOG.warn("{}", message);
        } else if (level == LIBBPF_INFO) {
            LOG.info("{}", message);
        } else {
            LOG.debug("{}", message);
        }
        return 0;
    }
}
