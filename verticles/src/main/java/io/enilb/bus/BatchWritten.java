package io.enilb.bus;

import java.util.Objects;

/**
 * A nat-map batch is in the maps. Published on {@link Addresses#NATMAP_BATCH_WRITTEN}.
 *
 * @param entries          map entries the batch wrote or deleted
 * @param services         Services (after coalescing) in the batch
 * @param syncLatencyNanos from the arrival of the batch's oldest change until the batch was in the maps
 * @param frontends        the state of every frontend after the batch
 */
public record BatchWritten(int entries, int services, long syncLatencyNanos, FrontendTable frontends) {
    public BatchWritten {
        Objects.requireNonNull(frontends, "frontends");
    }
}
