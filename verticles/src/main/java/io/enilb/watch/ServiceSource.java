package io.enilb.watch;

/** Where Services and EndpointSlices come from: a directory of YAML files or the Kubernetes API. */
public interface ServiceSource extends AutoCloseable {
    /** "file" or "kubernetes", as in {@link io.enilb.bus.SyncState#source()}. */
    String name();

    /** Starts watching; returns at once. Results arrive on the {@link SourceListener}. */
    void start();

    /** Stops watching; idempotent. May block briefly (joins a thread), so call it off the event loop. */
    @Override
    void close();
}
