package io.enilb.attach;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.LongSupplier;

/**
 * What attach has served, for health and metrics: requests by command and outcome, and a latency
 * histogram per command (cumulative buckets, Prometheus style). Thread-safe; read at any time.
 */
public final class AttachStats {
    /** Upper bounds of the latency buckets in milliseconds; a last, unbounded bucket follows. */
    public static final double[] LATENCY_BOUNDS_MS = {1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000};

    /** How a request ended. */
    public enum Outcome {
        /** served */
        OK,
        /** refused: bad parameters or config (CNI codes 1 to 7) */
        INVALID,
        /** failed: the datapath, the state directory, or not ready */
        FAILED
    }

    private final Map<String, LongAdder> counts = new ConcurrentHashMap<>();
    private final Map<String, Latency> latencies = new ConcurrentHashMap<>();
    private volatile LongSupplier malformed = () -> 0;
    private volatile LongSupplier refusedPeers = () -> 0;

    void record(String command, Outcome outcome, long nanos) {
        counts.computeIfAbsent(command + " " + outcome.name().toLowerCase(), k -> new LongAdder()).increment();
        latencies.computeIfAbsent(command, k -> new Latency()).record(nanos);
    }

    void countersOf(LongSupplier malformedRequests, LongSupplier refusedPeerConnections) {
        this.malformed = malformedRequests;
        this.refusedPeers = refusedPeerConnections;
    }

    /** Requests for {@code command} ("ADD" ...) that ended with {@code outcome}. */
    public long count(String command, Outcome outcome) {
        LongAdder adder = counts.get(command + " " + outcome.name().toLowerCase());
        return adder == null ? 0 : adder.sum();
    }

    /** Every non-zero count, keyed "ADD ok", "DEL failed" ... */
    public Map<String, Long> counts() {
        Map<String, Long> snapshot = new TreeMap<>();
        counts.forEach((key, adder) -> snapshot.put(key, adder.sum()));
        return snapshot;
    }

    /** The latency histogram of {@code command}, or null if none was served. */
    public Latency latency(String command) {
        return latencies.get(command);
    }

    /** Commands with a latency histogram. */
    public Map<String, Latency> latencies() {
        return new TreeMap<>(latencies);
    }

    /** Requests the socket refused before any command ran: malformed, too large or too slow. */
    public long malformedRequests() {
        return malformed.getAsLong();
    }

    /** Connections refused because the peer's uid is not in cni.allowed-uids. */
    public long refusedPeers() {
        return refusedPeers.getAsLong();
    }

    /** One command's latency: counts per bucket of {@link #LATENCY_BOUNDS_MS}, their sum and total. */
    public static final class Latency {
        private final AtomicLongArray buckets = new AtomicLongArray(LATENCY_BOUNDS_MS.length + 1);
        private final LongAdder count = new LongAdder();
        private final LongAdder sumNanos = new LongAdder();

        void record(long nanos) {
            double ms = nanos / 1e6;
            int i = 0;
            while (i < LATENCY_BOUNDS_MS.length && ms > LATENCY_BOUNDS_MS[i]) {
                i++;
            }
            buckets.incrementAndGet(i);
            count.increment();
            sumNanos.add(nanos);
        }

        /** Requests that took at most {@code LATENCY_BOUNDS_MS[bucket]} (cumulative); the last is all. */
        public long cumulative(int bucket) {
            long sum = 0;
            for (int i = 0; i <= bucket; i++) {
                sum += buckets.get(i);
            }
            return sum;
        }

        public long count() {
            return count.sum();
        }

        public double sumSeconds() {
            return sumNanos.sum() / 1e9;
        }
    }
}
