package io.enilb.bpf;

import java.util.ArrayList;
import java.util.List;

import io.enilb.bpf.Structs.CtKey;
import io.enilb.bpf.Structs.CtValue;

/**
 * Removes expired conntrack entries. The datapath already treats an expired entry as absent;
 * removing it gives its room back, which a full table (it never evicts) needs before new flows
 * can be recorded. One sweep walks the whole map with batch lookups and deletes each expired
 * entry after reading it once more, so that an entry a packet refreshed in the meantime stays.
 * Blocking and single-threaded: run it on a worker, never on an event loop.
 */
public final class ConntrackGc {
    private static final int BATCH = 4096;

    private final KeyValueMap<CtKey, CtValue> conntrack;

    /** Over the kernel's table ({@code Maps.conntrack()}), or an {@link InMemoryMap} for tests without root. */
    public ConntrackGc(KeyValueMap<CtKey, CtValue> conntrack) {
        this.conntrack = conntrack;
    }

    /**
     * One pass over the table.
     *
     * @param scanned   entries read
     * @param removed   expired entries deleted
     * @param live      entries scanned and not removed (including those refreshed during the pass)
     * @param capacity  the table's max_entries
     * @param elapsedNs wall time of the pass
     */
    public record GcResult(long scanned, long removed, long live, int capacity, long elapsedNs) {
        /** How full the table is with live entries, 0..1: what the GC interval adapts to. */
        public double pressure() {
            return capacity == 0 ? 0 : (double) live / capacity;
        }
    }

    /**
     * Deletes every entry that expired before {@code nowNs} (System.nanoTime(), the datapath's
     * CLOCK_MONOTONIC).
     */
    public GcResult sweep(long nowNs) {
        return sweep(nowNs, () -> { });
    }

    /** {@link #sweep(long)} with {@code afterWalk} run between the walk and the deletes (tests: a racing refresh). */
    GcResult sweep(long nowNs, Runnable afterWalk) {
        long start = System.nanoTime();
        List<CtKey> expired = new ArrayList<>();
        long scanned = conntrack.forEachBatch(BATCH, (key, value) -> {
            if (!value.liveAt(nowNs)) {
                expired.add(key);
            }
        });
        afterWalk.run();
        // read again right before each delete: a packet may have refreshed the entry since the walk
        long removed = conntrack.deleteIf(expired, v -> !v.liveAt(nowNs));
        long live = scanned - removed;
        return new GcResult(scanned, removed, live, conntrack.maxEntries(), System.nanoTime() - start);
    }
}
