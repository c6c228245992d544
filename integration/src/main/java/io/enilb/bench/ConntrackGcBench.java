package io.enilb.bench;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import io.enilb.bpf.BpfObject;
import io.enilb.bpf.BpfObject.MapNames;
import io.enilb.bpf.ConntrackGc;
import io.enilb.bpf.ConntrackGc.GcResult;
import io.enilb.bpf.Datapath;
import io.enilb.bpf.Ipv4;
import io.enilb.bpf.Structs.CtKey;
import io.enilb.bpf.Structs.CtValue;

/**
 * Cost of one conntrack GC sweep over a table of 1 M entries (the kernel map, batch lookups and
 * per-entry re-check and delete), with none, half and all of them expired: wall time and the
 * sweeping thread's CPU time (user + system: the syscalls run on it). Prints a markdown table;
 * a figure, not a test.
 *
 * <p>Run: {@code mvn -q -pl integration exec:java -Dexec.mainClass=io.enilb.bench.ConntrackGcBench}
 * (as root; -Dbench.entries=N for another size)
 */
public final class ConntrackGcBench {
    private static final long SEC = 1_000_000_000L;

    public static void main(String[] args) {
        int entries = Integer.getInteger("bench.entries", 1_000_000);
        Path object = Path.of(System.getProperty("enilb.bpf.object", "bpf/target/bpf/enilb.bpf.o"));
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        System.out.println("| entries | expired | removed | wall ms | CPU ms |");
        System.out.println("|---:|---:|---:|---:|---:|");
        for (double expiredShare : new double[] {0, 0.5, 1}) {
            Path pins = Path.of("/sys/fs/bpf/enilb-bench-gc-" + UUID.randomUUID().toString().substring(0, 8));
            try (Datapath dp = Datapath.load(object, pins, Map.of(MapNames.CONNTRACK, entries))) {
                fill(dp, entries, (int) (entries * expiredShare));
                ConntrackGc<?, ?> gc = dp.conntrackGc();
                long cpu = threads.getCurrentThreadCpuTime();
                GcResult r = gc.sweep(System.nanoTime());
                long cpuNs = threads.getCurrentThreadCpuTime() - cpu;
                System.out.printf("| %,d | %,d | %,d | %d | %d |%n", r.scanned(), (int) (entries * expiredShare),
                        r.removed(), r.elapsedNs() / 1_000_000, cpuNs / 1_000_000);
            } finally {
                BpfObject.unpinAll(pins);
            }
        }
    }

    /** {@code n} entries of distinct flows, the first {@code expired} of them expired a second ago. */
    private static void fill(Datapath dp, int n, int expired) {
        long now = System.nanoTime();
        int base = Ipv4.parse("198.18.0.0");
        List<Map.Entry<CtKey, CtValue>> batch = new ArrayList<>(65_536);
        for (int i = 0; i < n; i++) {
            CtKey key = new CtKey(1, base + (i >>> 16), Ipv4.parse("198.19.0.1"), i & 0xffff, 80, 6, CtKey.ORIGINAL);
            batch.add(Map.entry(key, new CtValue(i < expired ? now - SEC : now + 3600 * SEC, Ipv4.parse("198.18.1.1"),
                    8080, CtValue.ESTABLISHED, 0, 1, 1)));
            if (batch.size() == 65_536 || i == n - 1) {
                dp.maps().conntrack().putAll(batch);
                batch.clear();
            }
        }
    }
}
