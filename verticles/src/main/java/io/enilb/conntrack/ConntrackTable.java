package io.enilb.conntrack;

import java.time.Duration;

/**
 * The conntrack table as the GC sees it: the kernel's ({@code enilb_ct4_v2} with the datapath's
 * drop counters and lifetime config) in the daemon, a fake in tests. Every method blocks (batched
 * map syscalls): call them from the GC's own thread, never from an event loop.
 */
public interface ConntrackTable {

    /**
     * Removes the entries whose lifetime ended before {@code nowNs} (CLOCK_MONOTONIC, as
     * {@link System#nanoTime()} and the datapath's {@code bpf_ktime_get_ns} read it).
     */
    Sweep sweep(long nowNs);

    /** NEW flows the datapath refused so far because the table was full (drop reason CT_FULL). */
    long fullDrops();

    /** Writes the lifetimes the datapath gives new and refreshed entries. */
    void writeLifetimes(Lifetimes lifetimes);

    /**
     * One GC pass.
     *
     * @param scanned  entries looked at
     * @param removed  expired entries deleted
     * @param live     entries left (not expired)
     * @param capacity the table's maximum entries
     * @param elapsed  how long the pass took
     */
    record Sweep(long scanned, long removed, long live, long capacity, Duration elapsed) {
        /** Live entries over capacity, 0..1. */
        public double pressure() {
            return capacity == 0 ? 0 : (double) live / capacity;
        }
    }

    /**
     * How long an entry lives without traffic, by state (ABI v2 {@code struct ct_config}).
     *
     * @param tcpSyn         a TCP flow of which only the SYN was seen
     * @param tcpEstablished an established TCP flow
     * @param tcpClosing     a TCP flow after FIN or RST
     * @param other          UDP and other protocols
     */
    record Lifetimes(Duration tcpSyn, Duration tcpEstablished, Duration tcpClosing, Duration other) {
        public static final Lifetimes DEFAULTS = new Lifetimes(Duration.ofSeconds(60), Duration.ofHours(6),
                Duration.ofSeconds(10), Duration.ofSeconds(60));
    }
}
