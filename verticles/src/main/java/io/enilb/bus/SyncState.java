package io.enilb.bus;

/**
 * Whether a service source has delivered its complete initial state.
 *
 * @param source "kubernetes" or "file"
 * @param synced true once every informer (or the directory) was read completely
 */
public record SyncState(String source, boolean synced) {
}
