package io.enilb.watch;

import io.enilb.model.ServiceChange;
import java.util.List;
import java.util.SortedMap;

/**
 * What a service source reports. A source calls these on the one thread or context it was given
 * for hand-off, never concurrently.
 */
public interface SourceListener {
    /** Services whose normalized value changed (never empty). */
    void changed(List<ServiceChange> changes);

    /** The source delivered its complete state (true), or lost it (false). Called on change only. */
    void syncChanged(boolean synced);

    /** The current problems of the source, by what they concern (a file name, "kubernetes"); empty when none. */
    void errorsChanged(SortedMap<String, String> errors);
}
