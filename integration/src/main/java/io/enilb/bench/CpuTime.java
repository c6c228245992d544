package io.enilb.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The whole machine's CPU time from the first line of /proc/stat (proc(5): user nice system idle
 * iowait irq softirq steal ..., in USER_HZ ticks). Busy = everything but idle and iowait.
 */
final class CpuTime {
    /** USER_HZ: 100 on every Linux architecture enilb runs on (sysconf(_SC_CLK_TCK)). */
    private static final double TICKS_PER_SECOND = 100.0;
    private static final Path STAT = Path.of("/proc/stat");

    /** Busy and total ticks at one moment. */
    record Sample(long busyTicks, long totalTicks) {
        /** Busy CPU seconds, all CPUs together, since {@code earlier}. */
        double busySecondsSince(Sample earlier) {
            return (busyTicks - earlier.busyTicks) / TICKS_PER_SECOND;
        }
    }

    private CpuTime() {
    }

    static Sample sample() {
        String first;
        try (var lines = Files.lines(STAT)) {
            first = lines.findFirst().orElseThrow();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        String[] f = first.trim().split("\\s+");
        long total = 0;
        long idle = 0;
        // f[0] is "cpu"; guest and guest_nice (9, 10) are already counted in user and nice
        for (int i = 1; i < f.length && i <= 8; i++) {
            long v = Long.parseLong(f[i]);
            total += v;
            if (i == 4 || i == 5) {
                idle += v;
            }
        }
        return new Sample(total - idle, total);
    }
}
