package io.enilb.bus;

/** Every event-bus address enilb uses. Payloads are immutable records with local codecs. */
public final class Addresses {
    private Addresses() {
    }

    /** {@link io.enilb.model.ServiceChange}, published by the watcher for every change; no reply. */
    public static final String SERVICES_CHANGED = "enilb.services.changed";

    /** {@link io.enilb.bus.SyncState}, published by the watcher when the source is (no longer) in sync; no reply. */
    public static final String SOURCE_SYNC = "enilb.source.sync";

    /**
     * {@link SourceState}, published by the watcher after every set of changes (at most one per
     * {@code 20 ms}), and when its sync state or problems change; health keeps the last; no reply.
     */
    public static final String SOURCE_STATE = "enilb.source.state";

    /** {@link BatchWritten}, published by nat-map after every batch (and reconcile) it wrote; health keeps the last; no reply. */
    public static final String NATMAP_BATCH_WRITTEN = "enilb.natmap.batch.written";

    /**
     * {@link io.enilb.bus.PodAttachment}, published by attach after programs were attached to a pod
     * (also for every pod restored at start); health keeps the set of pods; no reply.
     */
    public static final String POD_ATTACHED = "enilb.pod.attached";

    /** {@link io.enilb.bus.PodAttachment}, published by attach after a pod was detached/forgotten; health drops it; no reply. */
    public static final String POD_DETACHED = "enilb.pod.detached";

    /** {@link io.enilb.bus.Flow}, published by flows for every flow event of the datapath it reads; no reply. */
    public static final String FLOWS = "enilb.flows";

    /** Sent to flows (any body); the reply is a {@link io.enilb.bus.RecentFlows} of the events it keeps. */
    public static final String FLOWS_RECENT = "enilb.flows.recent";

    /** {@link Liveness}, published every second by nat-map and attach; health and the daemon's watchdog read it; no reply. */
    public static final String LIVENESS = "enilb.liveness";

    /** {@link io.enilb.bus.Readiness}, published by each verticle when its readiness changes; no reply. */
    public static final String READINESS = "enilb.readiness";
}
