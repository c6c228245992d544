package io.enilb.bus;

import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The blocking operations (native calls, namespace switches, file writes) a component has in
 * flight and since when, so that its heartbeat can say which one stopped making progress.
 * Thread-safe: workers begin and end operations, the event loop asks.
 */
public final class Progress {
    private record Operation(String what, long sinceNanos) {
    }

    private final Map<Long, Operation> inFlight = new ConcurrentHashMap<>();
    private final AtomicLong ids = new AtomicLong();

    /** Marks the start of {@code what}; pass the result to {@link #end}. */
    public long begin(String what) {
        long id = ids.incrementAndGet();
        inFlight.put(id, new Operation(what, System.nanoTime()));
        return id;
    }

    public void end(long id) {
        inFlight.remove(id);
    }

    /** The oldest operation running for longer than {@code limit}, described for an operator. */
    public Optional<String> stuck(Duration limit) {
        long now = System.nanoTime();
        return inFlight.values().stream()
                .filter(op -> now - op.sinceNanos > limit.toNanos())
                .min((a, b) -> Long.compare(a.sinceNanos, b.sinceNanos))
                .map(op -> op.what + " running for " + Duration.ofNanos(now - op.sinceNanos).toMillis() + " ms");
    }
}
