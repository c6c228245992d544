package io.enilb.bus;

import java.time.Duration;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;

/**
 * Whether the components that send {@link Liveness} heartbeats still make progress: a component
 * is dead when it said it is stuck, or when its heartbeat is older than {@code staleAfter}. Both
 * health's {@code /healthz} and the daemon's systemd watchdog ask it. Thread-safe.
 */
public final class LivenessMonitor {
    private record Beat(Liveness liveness, long atNanos) {
    }

    private final Map<String, Beat> beats = new ConcurrentHashMap<>();
    private final long staleAfterNanos;
    private final LongSupplier clock;

    public LivenessMonitor(Duration staleAfter) {
        this(staleAfter, System::nanoTime);
    }

    LivenessMonitor(Duration staleAfter, LongSupplier clock) {
        this.staleAfterNanos = staleAfter.toNanos();
        this.clock = clock;
    }

    public void update(Liveness beat) {
        beats.put(beat.component(), new Beat(beat, clock.getAsLong()));
    }

    /** What is not alive, by component; empty when every component that ever beat is alive. */
    public SortedMap<String, String> problems() {
        long now = clock.getAsLong();
        SortedMap<String, String> out = new TreeMap<>();
        beats.forEach((component, beat) -> {
            if (now - beat.atNanos > staleAfterNanos) {
                out.put(component, "no heartbeat for " + Duration.ofNanos(now - beat.atNanos).toMillis() + " ms");
            } else if (!beat.liveness.alive()) {
                out.put(component, beat.liveness.stuck());
            }
        });
        return out;
    }

    public boolean alive() {
        return problems().isEmpty();
    }
}
