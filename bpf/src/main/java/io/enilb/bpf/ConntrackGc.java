package io.enilb.bpf;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

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

    private final BpfMap<CtKey, CtValue> conntrack;

    public ConntrackGc(BpfMap<CtKey, CtValue> conntrack) {
        this.conntrack = conntrack;
    }

    /**
     * One pass over the table.
     *
     * @param scanned   entries read
     * @param removed   expired entries deleted
     * @param live      entries not expired (including those refreshed during the pass)
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
        long removed = 0;
        long refreshed = 0;
        for (CtKey key : expired) {
            // read again right before the delete: a packet may have refreshed it since the walk
            Optional<CtValue> current = conntrack.get(key);
            if (current.isEmpty()) {
                continue;
            }
            if (current.get().liveAt(nowNs)) {
                refreshed++;
            } else if (conntrack.delete(key)) {
                removed++;
            }
        }
        long live = scanned - expired.size() + refreshed;
        return new GcResult(scanned, removed, live, conntrack.maxEntries(), System.nanoTime() - start);
    }
}
