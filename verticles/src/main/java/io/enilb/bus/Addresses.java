package io.enilb.bus;

/** Every event-bus address enilb uses. Payloads are immutable records with local codecs. */
public final class Addresses {
    private Addresses() {
    }

    /** {@link io.enilb.model.ServiceChange}, published by the watcher for every change; no reply. */
    public static final String SERVICES_CHANGED = "enilb.services.changed";

    /** {@link io.enilb.bus.SyncState}, published by the watcher when the source is (no longer) in sync; no reply. */
    public static final String SOURCE_SYNC = "enilb.source.sync";

    /** {@link io.enilb.bus.PodAttachment}, published by attach after programs were attached to a pod; no reply. */
    public static final String POD_ATTACHED = "enilb.pod.attached";

    /** {@link io.enilb.bus.PodAttachment}, published by attach after a pod was detached/forgotten; no reply. */
    public static final String POD_DETACHED = "enilb.pod.detached";

    /** {@link io.enilb.bus.Flow}, published by flows for every flow event of the datapath it reads; no reply. */
    public static final String FLOWS = "enilb.flows";

    /** Sent to flows (any body); the reply is a {@link io.enilb.bus.RecentFlows} of the events it keeps. */
    public static final String FLOWS_RECENT = "enilb.flows.recent";

    /** {@link io.enilb.bus.Readiness}, published by each verticle when its readiness changes; no reply. */
    public static final String READINESS = "enilb.readiness";
}
