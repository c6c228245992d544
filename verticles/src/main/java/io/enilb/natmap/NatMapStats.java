package io.enilb.natmap;

import java.util.List;
import java.util.Map;

import io.enilb.bpf.Structs.SvcKey;

/** What the nat-map tells health and metrics; safe to read from any thread. */
public interface NatMapStats {
    /** Services waiting to be written. */
    int queueDepth();

    /** Services in the last batch written. */
    int lastBatchSize();

    /** Time from a change's arrival to its batch being in the maps, for recent batches. */
    List<Long> recentSyncLatenciesNanos();

    /** Frontends that could not be programmed (a full map), with the reason. */
    Map<SvcKey, String> failures();

    /** Reconciled after the first full sync and nothing waiting. */
    boolean inSync();
}
