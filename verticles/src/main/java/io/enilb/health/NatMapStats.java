package io.enilb.health;

import io.enilb.model.Protocol;
import java.util.Optional;

/**
 * What the nat-map verticle tells health: its queue, its batches and the state of each frontend.
 * Implemented by nat-map; every method may be called from any thread (a worker during a scrape)
 * and must be cheap and must not wait for a batch to finish.
 */
public interface NatMapStats {

    /** Changes received and not yet written to the maps. */
    int queueDepth();

    /** Entries written or deleted by the last batch; 0 before the first. */
    int lastBatchSize();

    /**
     * Registers {@code listener}; nat-map calls it once after every batch it wrote, from any
     * thread. The listener only records and returns.
     */
    void addBatchListener(BatchListener listener);

    /** Unregisters a listener added before; unknown listeners are ignored. */
    void removeBatchListener(BatchListener listener);

    /**
     * The state of one frontend (ClusterIP, port, protocol) in the maps, or empty when nat-map
     * has not seen it yet.
     */
    Optional<FrontendState> frontend(String clusterIp, int port, Protocol protocol);

    /** Called after every batch. */
    @FunctionalInterface
    interface BatchListener {
        /**
         * @param size                entries the batch wrote or deleted
         * @param syncLatencyNanos    from the arrival of the batch's oldest change until the batch
         *                            was in the maps
         */
        void batchWritten(int size, long syncLatencyNanos);
    }

    /**
     * One frontend in the maps.
     *
     * @param svcId      its service id in the maps (the index of its datapath counters); 0 when none was allocated
     * @param programmed whether its current desired state is in the maps
     * @param error      why it is not, or empty
     */
    record FrontendState(int svcId, boolean programmed, String error) {
        public FrontendState {
            error = error == null ? "" : error;
        }

        public static FrontendState programmed(int svcId) {
            return new FrontendState(svcId, true, "");
        }

        public static FrontendState failed(int svcId, String error) {
            return new FrontendState(svcId, false, error);
        }
    }
}
