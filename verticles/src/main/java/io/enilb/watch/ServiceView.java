package io.enilb.watch;

import io.enilb.model.NormalizedService;
import io.enilb.model.ServiceKey;
import java.util.SortedMap;

/** A read-only view of the watcher's state, for health and the debugging endpoints; safe from any thread. */
public interface ServiceView {
    /** "file" or "kubernetes". */
    String sourceName();

    /** Whether the source delivered its complete state. */
    boolean synced();

    /** Every proxied Service as last published, sorted by key; immutable. */
    SortedMap<ServiceKey, NormalizedService> services();

    /** Current problems of the source by what they concern (file name, "kubernetes"); immutable, empty when none. */
    SortedMap<String, String> sourceErrors();

    /** Problems reported since start (each new file error or API error counts once). */
    long sourceErrorCount();
}
