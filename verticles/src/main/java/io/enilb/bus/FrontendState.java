package io.enilb.bus;

/**
 * One frontend (ClusterIP, port, protocol) in the maps, as nat-map last wrote it.
 *
 * @param svcId      its service id in the maps (the index of its datapath counters); 0 when none was allocated
 * @param programmed whether its current desired state is in the maps
 * @param error      why it is not, or empty
 */
public record FrontendState(int svcId, boolean programmed, String error) {
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
