package io.enilb.bus;

import io.enilb.model.ClusterIp;
import io.enilb.model.NormalizedService;
import io.enilb.model.ServiceKey;
import io.enilb.model.ServicePort;
import java.util.Collections;
import java.util.Objects;
import java.util.SortedMap;

/**
 * What the watcher knows, as one immutable snapshot: its source, whether it delivered its complete
 * state, its problems, and every proxied Service. Published on {@link Addresses#SOURCE_STATE}.
 *
 * @param source     "kubernetes" or "file"
 * @param synced     whether the source delivered its complete state once
 * @param errors     problems the source has now (by file, or "kubernetes"); empty when none
 * @param errorCount problems reported since start
 * @param services   the normalized value of every proxied Service, sorted; a persistent map, never copied
 */
public record SourceState(String source, boolean synced, SortedMap<String, String> errors, long errorCount,
                          SortedMap<ServiceKey, NormalizedService> services) {
    public SourceState {
        Objects.requireNonNull(source, "source");
        errors = Collections.unmodifiableSortedMap(errors);
        services = Collections.unmodifiableSortedMap(services);
    }

    /** What {@link #eachFrontend} is given, frontend by frontend. */
    public interface FrontendVisitor {
        void visit(NormalizedService service, ClusterIp clusterIp, ServicePort port);
    }

    /** Every frontend of the snapshot, always in the same order: Services by key, their addresses, their ports. */
    public void eachFrontend(FrontendVisitor visitor) {
        for (NormalizedService service : services.values()) {
            for (ClusterIp clusterIp : service.clusterIps()) {
                for (ServicePort port : clusterIp.ports()) {
                    visitor.visit(service, clusterIp, port);
                }
            }
        }
    }
}
