package io.enilb.bus;

import java.util.List;

/**
 * The flow events flows keeps (oldest first; a bounded ring) and what was lost on the way.
 *
 * @param flows      the most recent events
 * @param lostRate   events the datapath did not emit: over the per-CPU rate
 * @param lostRing   events the datapath could not write: the ring buffer was full
 * @param lostDaemon events enilbd read but could not keep up with
 */
public record RecentFlows(List<Flow> flows, long lostRate, long lostRing, long lostDaemon) {
    public RecentFlows {
        flows = List.copyOf(flows);
    }
}
