package io.enilb.health;

import io.enilb.attach.AttachStats;
import io.enilb.bus.PodAttachment;
import io.enilb.watch.ServiceView;
import java.util.List;
import java.util.function.Supplier;

/**
 * Where health reads the daemon's state from. The daemon fills in what it has; every part may be
 * null (and the datapath supplier may return null while nothing is loaded): the endpoints still
 * answer, with what is there.
 *
 * @param services    the watcher's view ({@code WatcherVerticle.view()})
 * @param attachStats CNI requests served ({@code AttachVerticle.stats()})
 * @param attachments the pods carrying the programs ({@code AttachVerticle::attachments})
 * @param datapath    the loaded datapath ({@link DatapathView#of}), or null until it is loaded
 * @param natMap      nat-map's queue, batches and frontend states
 */
public record HealthSources(ServiceView services, AttachStats attachStats,
                            Supplier<List<PodAttachment>> attachments,
                            Supplier<DatapathView> datapath, NatMapStats natMap) {

    /** Nothing known: every endpoint answers with empty state. */
    public static final HealthSources NONE = new HealthSources(null, null, null, null, null);

    public HealthSources withServices(ServiceView view) {
        return new HealthSources(view, attachStats, attachments, datapath, natMap);
    }

    public HealthSources withAttach(AttachStats stats, Supplier<List<PodAttachment>> pods) {
        return new HealthSources(services, stats, pods, datapath, natMap);
    }

    public HealthSources withDatapath(Supplier<DatapathView> view) {
        return new HealthSources(services, attachStats, attachments, view, natMap);
    }

    public HealthSources withNatMap(NatMapStats stats) {
        return new HealthSources(services, attachStats, attachments, datapath, stats);
    }

    /** The datapath now, or null. */
    DatapathView datapathNow() {
        return datapath == null ? null : datapath.get();
    }

    /** The attached pods now; empty when unknown. */
    List<PodAttachment> attachmentsNow() {
        if (attachments == null) {
            return List.of();
        }
        List<PodAttachment> pods = attachments.get();
        return pods == null ? List.of() : pods;
    }
}
