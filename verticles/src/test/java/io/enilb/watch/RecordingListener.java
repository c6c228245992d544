package io.enilb.watch;

import io.enilb.model.ServiceChange;
import java.util.Collections;
import java.util.List;
import java.util.SortedMap;
import java.util.concurrent.CopyOnWriteArrayList;

/** Records what a source reports, for tests. */
final class RecordingListener implements SourceListener {
    final List<ServiceChange> changes = new CopyOnWriteArrayList<>();
    final List<Boolean> syncStates = new CopyOnWriteArrayList<>();
    volatile SortedMap<String, String> errors = Collections.emptySortedMap();
    /** How many changes were recorded before the source first said synced; -1 until then. */
    volatile int changesBeforeSync = -1;

    @Override
    public void changed(List<ServiceChange> batch) {
        changes.addAll(batch);
    }

    @Override
    public void syncChanged(boolean synced) {
        if (synced && changesBeforeSync < 0) {
            changesBeforeSync = changes.size();
        }
        syncStates.add(synced);
    }

    @Override
    public void errorsChanged(SortedMap<String, String> now) {
        errors = now;
    }

    boolean synced() {
        return !syncStates.isEmpty() && syncStates.get(syncStates.size() - 1);
    }
}
