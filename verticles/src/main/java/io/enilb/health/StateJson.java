package io.enilb.health;

import io.enilb.bpf.Datapath;
import io.enilb.bus.FrontendState;
import io.enilb.bus.FrontendTable;
import io.enilb.bus.PodAttachment;
import io.enilb.bus.SourceState;
import io.enilb.model.Backend;
import io.enilb.model.ClusterIp;
import io.enilb.model.IpFamily;
import io.enilb.model.NormalizedService;
import io.enilb.model.ServicePort;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** The bodies of {@code /v1/services}, {@code /v1/endpoints} and {@code /v1/programs}, from snapshots; programs reads the kernel. */
final class StateJson {
    private StateJson() {
    }

    /**
     * {@code 198.19.0.10:80/TCP} or {@code [2001:db8:19::10]:80/TCP}: how a frontend is written in
     * JSON, metrics and enilbctl.
     */
    static String frontend(String clusterIp, ServicePort port) {
        return IpFamily.withPort(clusterIp, port.port()) + "/" + port.protocol();
    }

    /**
     * {@code {"source","synced","sourceErrors":{..},"services":[{"service":"ns/name","clusterIp","clusterIps",
     * "affinityTimeoutSeconds","frontends":[{"frontend","family","name","port","protocol","state","svcId","error",
     * "backends":[{"ip","port","state"}]}]}]}}; clusterIp is the primary family's, clusterIps every
     * family's (primary first), family IPv4 or IPv6; state is programmed, failed, pending or unknown (no
     * word from nat-map yet).
     */
    static JsonObject services(SourceState source, FrontendTable natMap) {
        JsonObject out = new JsonObject();
        JsonArray services = new JsonArray();
        if (source == null) {
            return out.put("source", null).put("synced", false).put("sourceErrors", new JsonObject())
                    .put("services", services);
        }
        for (NormalizedService service : source.services().values()) {
            JsonArray frontends = new JsonArray();
            JsonArray clusterIps = new JsonArray();
            for (ClusterIp clusterIp : service.clusterIps()) {
                clusterIps.add(clusterIp.address());
                for (ServicePort port : clusterIp.ports()) {
                    JsonArray backends = new JsonArray();
                    for (Backend backend : port.backends()) {
                        backends.add(new JsonObject().put("ip", backend.ip()).put("port", backend.port())
                                .put("state", backend.state().name().toLowerCase()));
                    }
                    JsonObject frontend = new JsonObject()
                            .put("frontend", frontend(clusterIp.address(), port))
                            .put("family", clusterIp.family().kubernetesName)
                            .put("name", port.name())
                            .put("port", port.port())
                            .put("protocol", port.protocol().name());
                    putState(frontend, natMap == null ? Optional.empty()
                            : natMap.get(clusterIp.address(), port.port(), port.protocol()), natMap != null);
                    frontends.add(frontend.put("backends", backends));
                }
            }
            services.add(new JsonObject()
                    .put("service", service.key().toString())
                    .put("namespace", service.key().namespace())
                    .put("name", service.key().name())
                    .put("clusterIp", clusterIps.getString(0))
                    .put("clusterIps", clusterIps)
                    .put("affinityTimeoutSeconds", service.affinityTimeoutSeconds())
                    .put("frontends", frontends));
        }
        JsonObject errors = new JsonObject();
        source.errors().forEach(errors::put);
        return out.put("source", source.source()).put("synced", source.synced()).put("sourceErrors", errors)
                .put("services", services);
    }

    private static void putState(JsonObject frontend, Optional<FrontendState> state, boolean known) {
        if (state.isEmpty()) {
            frontend.put("state", known ? "pending" : "unknown").put("svcId", null).put("error", null);
            return;
        }
        FrontendState s = state.get();
        frontend.put("state", s.programmed() ? "programmed" : s.error().isEmpty() ? "pending" : "failed")
                .put("svcId", s.svcId() > 0 ? s.svcId() : null)
                .put("error", s.error().isEmpty() ? null : s.error());
    }

    /** {@code {"pods":[{"containerId","ifName","netns","ips":[..]}]}}, sorted by container id. */
    static JsonObject endpoints(Collection<PodAttachment> attachments) {
        JsonArray pods = new JsonArray();
        for (PodAttachment pod : sorted(attachments)) {
            pods.add(new JsonObject()
                    .put("containerId", pod.containerId())
                    .put("ifName", pod.ifName())
                    .put("netns", pod.netns())
                    .put("ips", new JsonArray(new ArrayList<>(pod.ips()))));
        }
        return new JsonObject().put("pods", pods);
    }

    /**
     * {@code {"loaded":bool,"tcAttach":"tcx|clsact|auto","programs":[{"name","id","attachedTo":[{"containerId",
     * "netns","device","direction"}]}],"socketHooks":[...]}}. Where a program sits follows from its
     * role: the egress and ingress programs on each pod's NIC, the loopback program on each pod's
     * {@code lo}; {@code tcAttach} says how (tcx links or clsact filters).
     */
    static JsonObject programs(DatapathView datapath, Collection<PodAttachment> attachments) {
        JsonArray programs = new JsonArray();
        if (datapath == null) {
            return new JsonObject().put("loaded", false).put("programs", programs);
        }
        List<DatapathView.SocketHook> socketHooks = datapath.socketHooks();
        for (DatapathView.Program program : datapath.programs()) {
            JsonArray where = new JsonArray();
            for (DatapathView.SocketHook hook : socketHooks) {
                if (hook.programId() == program.id()) {
                    // the cgroup hooks serve every attached pod at once, at the cgroup v2 root
                    where.add(new JsonObject().put("containerId", "").put("netns", "")
                            .put("device", "cgroup " + hook.cgroup()).put("direction", hook.hook()));
                }
            }
            for (PodAttachment pod : sorted(attachments)) {
                String[] hook = hook(program.name(), pod.ifName());
                if (hook != null) {
                    where.add(new JsonObject().put("containerId", pod.containerId()).put("netns", pod.netns())
                            .put("device", hook[0]).put("direction", hook[1]));
                }
            }
            programs.add(new JsonObject().put("name", program.name()).put("id", program.id())
                    .put("attachedTo", where));
        }
        JsonArray hooks = new JsonArray();
        socketHooks.forEach(h -> hooks.add(new JsonObject().put("hook", h.hook()).put("program", h.program())
                .put("id", h.programId()).put("cgroup", h.cgroup())));
        return new JsonObject().put("loaded", true).put("tcAttach", datapath.tcAttach()).put("programs", programs)
                .put("socketHooks", hooks);
    }

    /** {device, direction} of {@code program} on a pod whose NIC is {@code ifName}, or null if not a pod program. */
    private static String[] hook(String program, String ifName) {
        return switch (program) {
            case Datapath.EGRESS -> new String[] {ifName, "egress"};
            case Datapath.INGRESS -> new String[] {ifName, "ingress"};
            case Datapath.LO_EGRESS -> new String[] {"lo", "egress"};
            default -> null;
        };
    }

    private static List<PodAttachment> sorted(Collection<PodAttachment> attachments) {
        List<PodAttachment> copy = new ArrayList<>(attachments);
        copy.sort(Comparator.comparing(PodAttachment::containerId).thenComparing(PodAttachment::ifName));
        return copy;
    }

    /**
     * {@code {"services":[{"service","frontend","packets","bytes","newFlows"}],"drops":{reason:n},
     * "cni":[{"command","outcome","requests"}]}}: the datapath's counters of every frontend with a
     * service id (read in one bulk pass), its drops, and the CNI requests attach counted in the
     * registry. Reads the kernel: call it on a worker.
     */
    static JsonObject counters(SourceState source, FrontendTable natMap, DatapathView datapath, MeterRegistry registry) {
        JsonArray services = new JsonArray();
        JsonObject drops = new JsonObject();
        if (datapath != null) {
            if (source != null && natMap != null) {
                DatapathView.CounterTable[] all = {null};
                source.eachFrontend((service, clusterIp, port) -> {
                    int id = natMap.serviceId(clusterIp.address(), port.port(), port.protocol());
                    if (id == 0) {
                        return;
                    }
                    if (all[0] == null) {
                        all[0] = datapath.allServiceCounters(natMap.size());
                    }
                    DatapathView.ServiceCounters c = all[0].holds(id) ? all[0].get(id) : datapath.serviceCounters(id);
                    services.add(new JsonObject().put("service", service.key().toString())
                            .put("frontend", frontend(clusterIp.address(), port)).put("packets", c.packets())
                            .put("bytes", c.bytes()).put("newFlows", c.newFlows()));
                });
            }
            new java.util.TreeMap<>(datapath.drops()).forEach(drops::put);
        }
        JsonArray cni = new JsonArray();
        registry.find("enilb.cni.requests").counters().stream()
                .sorted(Comparator.comparing((Counter c) -> c.getId().getTag("command"))
                        .thenComparing(c -> c.getId().getTag("outcome")))
                .forEach(c -> cni.add(new JsonObject().put("command", c.getId().getTag("command"))
                        .put("outcome", c.getId().getTag("outcome")).put("requests", (long) c.count())));
        return new JsonObject().put("services", services).put("drops", drops).put("cni", cni);
    }

    /** {@code {"ready":bool,"reasons":{component: reason}}} for the components that are not ready. */
    static JsonObject readiness(Map<String, String> reasons) {
        JsonObject r = new JsonObject();
        reasons.forEach(r::put);
        return new JsonObject().put("ready", reasons.isEmpty()).put("reasons", r);
    }
}
