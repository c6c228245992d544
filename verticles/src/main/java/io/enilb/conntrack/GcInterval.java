package io.enilb.conntrack;

import java.time.Duration;

/**
 * The adaptive GC interval, after Cilium's conntrack GC ({@code ctmap/gc}): the more a pass
 * removed relative to the table's capacity, the sooner the next one, so that expired entries are
 * cleared before they fill the table; a pass that found little dead lengthens the interval, so
 * that an idle node does not walk a big table for nothing. And the interval never exceeds half
 * the time the table would take to fill at the rate it grew since the previous pass. Bounded by
 * {@code conntrack.gc-interval-min} and {@code -max}.
 */
public record GcInterval(Duration min, Duration max) {
    /** A pass that removed more than this fraction of the capacity shortens the interval (Cilium: 25%). */
    static final double MANY_REMOVED = 0.25;
    /** A pass that removed less than this fraction lengthens it (Cilium: 5%). */
    static final double FEW_REMOVED = 0.05;
    /** ... but only when the table is at most this full: a crowded table is watched closely. */
    static final double CROWDED = 0.5;

    public GcInterval {
        if (min.isNegative() || min.isZero() || max.compareTo(min) < 0) {
            throw new IllegalArgumentException("GC interval bounds " + min + ".." + max);
        }
    }

    /** Where the GC starts: the first pass runs at once and sets the pace from what it finds. */
    public Duration initial() {
        return max;
    }

    /**
     * The interval after a pass.
     *
     * @param current   the interval that led to this pass
     * @param pass      what the pass found
     * @param growth    entries created per second since the previous pass (0 when unknown)
     * @param newlyFull whether NEW flows were refused (table full) since the previous pass
     */
    public Duration next(Duration current, ConntrackTable.Sweep pass, double growth, boolean newlyFull) {
        double removed = pass.capacity() == 0 ? 0 : (double) pass.removed() / pass.capacity();
        Duration next = current;
        if (newlyFull) {
            // the table refuses flows now: clear whatever expires as soon as it does
            next = min;
        } else if (removed > MANY_REMOVED) {
            // 25%..90% removed => 1.3x..10x shorter, as Cilium
            next = scale(current, 1.0 - Math.min(removed, 0.9));
        } else if (removed < FEW_REMOVED && pass.pressure() <= CROWDED) {
            next = scale(current, 1.5);
        }
        if (growth > 0) {
            Duration halfwayToFull = Duration.ofMillis(Math.round((pass.capacity() - pass.live()) / growth * 500));
            next = next.compareTo(halfwayToFull) > 0 ? halfwayToFull : next;
        }
        if (next.compareTo(min) < 0) {
            return min;
        }
        return next.compareTo(max) > 0 ? max : next;
    }

    private static Duration scale(Duration d, double factor) {
        return Duration.ofMillis(Math.round(d.toMillis() * factor));
    }
}
