package io.enilb.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Predicate;

/**
 * What enilb's parts cost a short connection, from one {@code perf record -a -g} run: every
 * sample's call chain (the output of {@code perf script -F comm,ip,sym}) is counted in each part
 * it passes through (inclusive: the connect hook's count holds the socket storage it allocates),
 * per 1 000 requests. The flat profile by symbol cannot say this: most of a hook's or a tc
 * filter's time is spent in the kernel functions it calls (map lookups, allocations).
 */
final class PerfCosts {
    /** A part of the path and how to recognize its frames. */
    record Part(String name, Predicate<List<String>> in) {
    }

    /** A frame of one of enilb's tc programs (bpf_prog_&lt;tag&gt;_enilb_egress ...). */
    private static final Predicate<List<String>> TC_PROGRAM = chain -> chain.stream().anyMatch(f -> f.startsWith("bpf_prog_")
            && (f.contains("_enilb_egress") || f.contains("_enilb_ingress") || f.contains("_enilb_lo_egress")));
    /** tc's classifier (clsact and cls_bpf), or enilb's programs however attached (a tcx link runs them from the device's path). */
    private static final Predicate<List<String>> TC = TC_PROGRAM.or(chain -> chain.stream()
            .anyMatch(f -> f.equals("tcf_classify") || f.equals("tc_run") || f.equals("cls_bpf_classify")));

    static final List<Part> PARTS = List.of(
            new Part("tc on the pod's NIC (cls_bpf, enilb's programs, their map lookups)", TC),
            new Part("  of which enilb's tc programs and what they call", TC_PROGRAM),
            new Part("cgroup socket hooks (all programs, the kernel's hook runner)",
                    chain -> chain.contains("__cgroup_bpf_run_filter_sock_addr")),
            new Part("  of which connect4", chain -> chain.stream().anyMatch(f -> f.contains("enilb_connect4"))),
            new Part("  of which getpeername4 (every accept() of the host)",
                    chain -> chain.stream().anyMatch(f -> f.contains("enilb_getpeername4"))),
            new Part("socket storage (created at connect, freed at close)", chain -> chain.stream().anyMatch(
                    f -> f.startsWith("bpf_sk_storage") || f.startsWith("bpf_local_storage") || f.startsWith("bpf_selem"))),
            new Part("  of which freed at the socket's close", chain -> chain.contains("bpf_sk_storage_free")),
            new Part("waiting for a contended spin lock", chain -> chain.get(0).endsWith("queued_spin_lock_slowpath")));

    private PerfCosts() {
    }

    /** The call chains of {@code perf script -F comm,ip,sym} output: innermost frame first, one list per sample. */
    static List<List<String>> chains(String script) {
        List<List<String>> samples = new ArrayList<>();
        for (String block : script.split("\n\\s*\n")) {
            String[] lines = block.strip().split("\n");
            List<String> frames = new ArrayList<>();
            for (int i = 1; i < lines.length; i++) {
                String[] words = lines[i].strip().split("\\s+");
                if (words.length >= 2) {
                    frames.add(words[1]);
                }
            }
            if (!frames.isEmpty()) {
                samples.add(frames);
            }
        }
        return samples;
    }

    /** Whether a sample is an idle CPU, which costs no request anything. */
    static boolean idle(List<String> chain) {
        return chain.stream().limit(3).anyMatch(f -> f.contains("halt") || f.contains("idle"));
    }

    /** The report: busy samples and each part, per 1 000 requests of the run. */
    static String report(String script, double requests) {
        List<List<String>> samples = chains(script);
        List<List<String>> busy = samples.stream().filter(c -> !idle(c)).toList();
        double per = 1000.0 / requests;
        StringBuilder out = new StringBuilder(String.format(Locale.ROOT,
                "%,d samples (cpu-clock, all CPUs), %,d busy: %.1f busy samples per 1 000 requests%n",
                samples.size(), busy.size(), busy.size() * per));
        for (Part part : PARTS) {
            long n = busy.stream().filter(part.in()).count();
            out.append(String.format(Locale.ROOT, "%-72s %7.2f  (%.1f %% of busy)%n", part.name(), n * per,
                    busy.isEmpty() ? 0 : 100.0 * n / busy.size()));
        }
        return out.toString();
    }
}
