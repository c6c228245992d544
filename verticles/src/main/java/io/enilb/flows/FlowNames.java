package io.enilb.flows;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import io.enilb.bpf.Maps.DropReason;
import io.enilb.bpf.Structs.AnyFlowEvent;
import io.enilb.bpf.Structs.FlowEvent;
import io.enilb.bus.Flow;
import io.enilb.bus.PodAttachment;
import io.enilb.model.NormalizedService;
import io.enilb.model.ServiceChange;
import io.enilb.model.ServiceKey;
import io.enilb.model.ServicePort;

/**
 * What flows knows to name an event: the Service of each frontend (from the watcher's
 * changes) and the pod of each address (from attach's events). Event-loop confined.
 */
final class FlowNames {
    private static final int TCP = 6;
    private static final int UDP = 17;

    private record Frontend(String ip, int port, String protocol) {
    }

    private final Map<Frontend, ServiceKey> services = new HashMap<>();
    private final Map<ServiceKey, List<Frontend>> frontendsOf = new HashMap<>();
    private final Map<String, String> podOfAddress = new HashMap<>();

    void apply(ServiceChange change) {
        List<Frontend> before = frontendsOf.remove(change.key());
        if (before != null) {
            before.forEach(f -> services.remove(f, change.key()));
        }
        NormalizedService s = change.service();
        if (s == null) {
            return;
        }
        List<Frontend> now = s.clusterIps().stream()
                .flatMap(c -> c.ports().stream().map(p -> frontend(c.address(), p))).toList();
        now.forEach(f -> services.put(f, change.key()));
        frontendsOf.put(change.key(), now);
    }

    private static Frontend frontend(String clusterIp, ServicePort p) {
        return new Frontend(clusterIp, p.port(), p.protocol().name().toLowerCase(java.util.Locale.ROOT));
    }

    void attached(PodAttachment pod) {
        pod.ips().forEach(ip -> podOfAddress.put(ip, pod.containerId()));
    }

    void detached(PodAttachment pod) {
        pod.ips().forEach(ip -> podOfAddress.remove(ip, pod.containerId()));
    }

    /** The event with names; {@code wallNowNs - monoNowNs} converts its monotonic time. */
    Flow name(AnyFlowEvent e, long wallMinusMonoNs) {
        String protocol = e.proto() == TCP ? "tcp" : e.proto() == UDP ? "udp" : Integer.toString(e.proto());
        String frontendIp = e.frontend();
        String client = e.client();
        ServiceKey service = services.get(new Frontend(frontendIp, e.dport(), protocol));
        Flow.Verdict verdict = switch (e.type()) {
            case FlowEvent.NEW -> Flow.Verdict.NEW;
            case FlowEvent.REJECT -> Flow.Verdict.REJECT;
            default -> Flow.Verdict.DROP;
        };
        boolean isNew = verdict == Flow.Verdict.NEW;
        String via = !isNew ? "" : e.via() == FlowEvent.VIA_AFFINITY ? "affinity" : "random";
        String reason = isNew ? "" : e.reason() < DropReason.values().length
                ? DropReason.values()[e.reason()].name() : "reason " + e.reason();
        long nanos = e.tsNs() + wallMinusMonoNs;
        return new Flow(java.time.Instant.ofEpochSecond(Math.floorDiv(nanos, 1_000_000_000L),
                Math.floorMod(nanos, 1_000_000_000L)), verdict, reason, via,
                podOfAddress.getOrDefault(client, ""), client, e.sport(),
                service == null ? "" : service.toString(), frontendIp, e.dport(), protocol,
                isNew ? e.backend() : "", isNew ? e.backendPort() : 0, e.netnsCookie());
    }
}
