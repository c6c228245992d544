package io.enilb.bus;

/**
 * Whether a service source has delivered its complete initial state.
 *
 * @param source "kubernetes" or "file"
 * @param synced true once every informer was read completely, or for the file source once a scan
 *               read the directory and every file in it (files that break later do not take it back)
 */
public record SyncState(String source, boolean synced) {
}
