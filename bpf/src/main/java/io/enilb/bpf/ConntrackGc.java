package io.enilb.bpf;

import java.util.ArrayList;
import java.util.List;

import java.util.function.ToLongFunction;

import io.enilb.bpf.Structs.CtKey;
import io.enilb.bpf.Structs.CtKey6;
import io.enilb.bpf.Structs.CtValue;
import io.enilb.bpf.Structs.CtValue6;

/**
 * Removes expired conntrack entries. The datapath already treats an expired entry as absent;
 * removing it gives its room back, which a full table (it never evicts) needs before new flows
 * can be recorded. One sweep walks the whole map with batch lookups and deletes each expired
 * entry after reading it once more, so that an entry a packet refreshed in the meantime stays.
 * Blocking and single-threaded: run it on a worker, never on an event loop. One instance per
 * table: {@link #v4} for {@code enilb_ct4_v2}, {@link #v6} for {@code enilb_ct6_v2}; both kinds of
 * entry carry the same expiry (CLOCK_MONOTONIC ns).
 *
 * @param <K> the table's key
 * @param <V> the table's value
 */
public final class ConntrackGc<K, V> {
    private static final int BATCH = 4096;

    private final KeyValueMap<K, V> conntrack;
    private final ToLongFunction<V> expiresNs;

    /**
     * Over a kernel table ({@code Maps.conntrack()} / {@code conntrack6()}), or an
     * {@link InMemoryMap} for tests without root; {@code expiresNs} reads an entry's expiry.
     */
    public ConntrackGc(KeyValueMap<K, V> conntrack, ToLongFunction<V> expiresNs) {
        this.conntrack = conntrack;
        this.expiresNs = expiresNs;
    }

    /** The collector of the IPv4 table. */
    public static ConntrackGc<CtKey, CtValue> v4(KeyValueMap<CtKey, CtValue> conntrack) {
        return new ConntrackGc<>(conntrack, CtValue::expiresNs);
    }

    /** The collector of the IPv6 table. */
    public static ConntrackGc<CtKey6, CtValue6> v6(KeyValueMap<CtKey6, CtValue6> conntrack) {
        return new ConntrackGc<>(conntrack, CtValue6::expiresNs);
    }

    /** Whether the datapath still follows the entry at {@code nowNs} (as CtValue.liveAt). */
    private boolean liveAt(V value, long nowNs) {
        return expiresNs.applyAsLong(value) - nowNs >= 0;
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
        List<K> expired = new ArrayList<>();
        long scanned = conntrack.forEachBatch(BATCH, (key, value) -> {
            if (!liveAt(value, nowNs)) {
                expired.add(key);
            }
        });
        afterWalk.run();
        // read again right before each delete: a packet may have refreshed the entry since the walk
        long removed = conntrack.deleteIf(expired, v -> !liveAt(v, nowNs));
        long live = scanned - removed;
        return new GcResult(scanned, removed, live, conntrack.maxEntries(), System.nanoTime() - start);
    }
}
