package io.enilb.watch;

import com.google.common.net.InetAddresses;
import io.enilb.model.Backend;
import io.enilb.model.ClusterIp;
import io.enilb.model.IpFamily;
import io.enilb.model.NormalizedService;
import io.enilb.model.Protocol;
import io.enilb.model.ServiceKey;
import io.enilb.model.ServicePort;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceSpec;
import io.fabric8.kubernetes.api.model.discovery.v1.Endpoint;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointConditions;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointPort;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns a Service and its EndpointSlices into what enilb programs, with kube-proxy's rules:
 * which Services are proxied, which ports, which endpoints take new flows (KEP-1669 terminating
 * endpoints), internalTrafficPolicy and ClientIP session affinity. Each IP family of a Service
 * (IPv4, IPv6, or both: dual-stack) is its own frontend set with that family's endpoints, as
 * kube-proxy runs one proxier per family. Pure: it reads the given objects and never changes them.
 */
public final class ServiceNormalizer {
    private static final Logger LOG = LoggerFactory.getLogger(ServiceNormalizer.class);

    /** Label that joins an EndpointSlice to its Service. */
    public static final String SERVICE_NAME_LABEL = "kubernetes.io/service-name";
    /** Services carrying this label belong to another proxy (kube-proxy skips them too). */
    public static final String SERVICE_PROXY_NAME_LABEL = "service.kubernetes.io/service-proxy-name";
    /** Services carrying this label are headless whatever their ClusterIP says. */
    public static final String HEADLESS_LABEL = "service.kubernetes.io/headless";
    /** Kubernetes' default for sessionAffinityConfig.clientIP.timeoutSeconds. */
    public static final int DEFAULT_AFFINITY_TIMEOUT_SECONDS = 10800;

    private final String nodeName;
    private final Set<ServiceKey> sctpLogged = ConcurrentHashMap.newKeySet();

    /** @param nodeName this node's name, as in EndpointSlice endpoints' nodeName (for internalTrafficPolicy Local) */
    public ServiceNormalizer(String nodeName) {
        this.nodeName = Objects.requireNonNull(nodeName, "nodeName");
    }

    public String nodeName() {
        return nodeName;
    }

    /** The key of a namespaced object; objects without a namespace (from files) are in "default". */
    public static ServiceKey keyOf(HasMetadata object) {
        String namespace = object.getMetadata().getNamespace();
        return new ServiceKey(namespace == null || namespace.isEmpty() ? "default" : namespace,
                object.getMetadata().getName());
    }

    /** The Service an EndpointSlice belongs to, or empty when it carries no service-name label. */
    public static Optional<ServiceKey> serviceOf(EndpointSlice slice) {
        Map<String, String> labels = slice.getMetadata().getLabels();
        String name = labels == null ? null : labels.get(SERVICE_NAME_LABEL);
        if (name == null || name.isEmpty()) {
            return Optional.empty();
        }
        return Optional.of(new ServiceKey(keyOf(slice).namespace(), name));
    }

    /**
     * Normalizes one Service.
     *
     * @param service the Service
     * @param slices  the EndpointSlices labelled with that Service's name (others are ignored)
     * @return the Service as enilb programs it, or empty when enilb does not proxy it
     */
    public Optional<NormalizedService> normalize(Service service, Collection<EndpointSlice> slices) {
        ServiceKey key = keyOf(service);
        ServiceSpec spec = service.getSpec();
        if (spec == null || !proxied(key, service)) {
            return Optional.empty();
        }
        Map<IpFamily, String> addresses = clusterIpsByFamily(key, spec);
        if (addresses.isEmpty()) {
            LOG.debug("service {}: no ClusterIP, skipped", key);
            return Optional.empty();
        }

        List<EndpointSlice> ours = slices.stream()
                .filter(s -> serviceOf(s).filter(key::equals).isPresent())
                .sorted(Comparator.comparing(s -> Objects.requireNonNullElse(s.getMetadata().getName(), "")))
                .toList();
        boolean localOnly = "Local".equals(spec.getInternalTrafficPolicy());

        List<ClusterIp> clusterIps = new ArrayList<>();
        for (Map.Entry<IpFamily, String> address : addresses.entrySet()) {
            IpFamily family = address.getKey();
            // a family's ClusterIP gets that family's slices only; FQDN slices match no family
            List<EndpointSlice> familySlices = ours.stream()
                    .filter(s -> family.kubernetesName.equals(s.getAddressType()))
                    .toList();
            List<ServicePort> ports = ports(key, spec, family, familySlices, localOnly);
            if (ports.isEmpty()) {
                LOG.debug("service {}: no TCP or UDP port, skipped", key);
                return Optional.empty();
            }
            clusterIps.add(new ClusterIp(family, address.getValue(), ports));
        }
        return Optional.of(new NormalizedService(key, clusterIps, affinityTimeout(spec)));
    }

    private List<ServicePort> ports(ServiceKey key, ServiceSpec spec, IpFamily family, List<EndpointSlice> slices,
                                    boolean localOnly) {
        List<ServicePort> ports = new ArrayList<>();
        for (io.fabric8.kubernetes.api.model.ServicePort port : nullToEmpty(spec.getPorts())) {
            Protocol protocol = protocolOf(port.getProtocol());
            if (protocol == null) {
                if (sctpLogged.add(key)) {
                    LOG.info("service {}: port {} has protocol {}, which enilb does not translate; skipped",
                            key, port.getPort(), port.getProtocol());
                }
                continue;
            }
            if (port.getPort() == null || port.getPort() < 1 || port.getPort() > 65535) {
                continue;
            }
            String name = Objects.requireNonNullElse(port.getName(), "");
            ports.add(new ServicePort(name, protocol, port.getPort(),
                    backends(name, protocol, family, slices, localOnly)));
        }
        return ports;
    }

    private static boolean proxied(ServiceKey key, Service service) {
        Map<String, String> labels = service.getMetadata().getLabels();
        if (labels != null && (labels.containsKey(SERVICE_PROXY_NAME_LABEL) || labels.containsKey(HEADLESS_LABEL))) {
            LOG.debug("service {}: labelled for another proxy or headless, skipped", key);
            return false;
        }
        String type = service.getSpec().getType();
        return type == null || type.isEmpty()
                || type.equals("ClusterIP") || type.equals("NodePort") || type.equals("LoadBalancer");
    }

    /**
     * The ClusterIP of each family, primary first: clusterIPs (dual-stack), else clusterIP; the
     * first address of a family wins (kube-proxy's GetClusterIPByFamily). Empty when headless.
     * The API server keeps clusterIPs, ipFamilies and ipFamilyPolicy consistent; from other
     * sources an address whose family spec.ipFamilies does not list is ignored, and
     * SingleStack keeps the primary family only.
     */
    private static Map<IpFamily, String> clusterIpsByFamily(ServiceKey key, ServiceSpec spec) {
        List<String> candidates = new ArrayList<>(nullToEmpty(spec.getClusterIPs()));
        if (candidates.isEmpty() && spec.getClusterIP() != null) {
            candidates.add(spec.getClusterIP());
        }
        Set<IpFamily> listed = EnumSet.noneOf(IpFamily.class);
        for (String name : nullToEmpty(spec.getIpFamilies())) {
            IpFamily family = IpFamily.ofKubernetes(name);
            if (family != null) {
                listed.add(family);
            }
        }
        Map<IpFamily, String> byFamily = new LinkedHashMap<>();
        for (String candidate : candidates) {
            if (candidate == null || candidate.equals("None")) {
                return Map.of();
            }
            String ip = IpFamily.canonical(candidate);
            if (ip == null) {
                continue;
            }
            IpFamily family = IpFamily.of(ip);
            if (!listed.isEmpty() && !listed.contains(family)) {
                LOG.debug("service {}: ClusterIP {} is of no family in ipFamilies {}; ignored", key, ip, listed);
                continue;
            }
            byFamily.putIfAbsent(family, ip);
        }
        if ("SingleStack".equals(spec.getIpFamilyPolicy()) && byFamily.size() > 1) {
            IpFamily primary = byFamily.keySet().iterator().next();
            LOG.debug("service {}: SingleStack with ClusterIPs {}; only {} is programmed", key, byFamily.values(),
                    primary.kubernetesName);
            return Map.of(primary, byFamily.get(primary));
        }
        return byFamily;
    }

    private static int affinityTimeout(ServiceSpec spec) {
        if (!"ClientIP".equals(spec.getSessionAffinity())) {
            return 0;
        }
        Integer timeout = spec.getSessionAffinityConfig() == null
                || spec.getSessionAffinityConfig().getClientIP() == null
                ? null : spec.getSessionAffinityConfig().getClientIP().getTimeoutSeconds();
        return timeout == null || timeout <= 0 ? DEFAULT_AFFINITY_TIMEOUT_SECONDS : timeout;
    }

    /** How an endpoint may be used, best first; a duplicate address keeps its best use. */
    private enum Use { READY, SERVING_TERMINATING, TERMINATING }

    private List<Backend> backends(String portName, Protocol protocol, IpFamily family, List<EndpointSlice> slices,
                                   boolean localOnly) {
        Map<String, Candidate> byAddress = new LinkedHashMap<>();
        for (EndpointSlice slice : slices) {
            for (EndpointPort slicePort : nullToEmpty(slice.getPorts())) {
                if (!portName.equals(Objects.requireNonNullElse(slicePort.getName(), ""))
                        || protocolOf(slicePort.getProtocol()) != protocol
                        || slicePort.getPort() == null || slicePort.getPort() < 1 || slicePort.getPort() > 65535) {
                    continue;
                }
                int targetPort = slicePort.getPort();
                for (Endpoint endpoint : nullToEmpty(slice.getEndpoints())) {
                    Use use = useOf(endpoint.getConditions());
                    if (use == null || endpoint.getAddresses() == null || endpoint.getAddresses().isEmpty()) {
                        continue;
                    }
                    if (localOnly && !nodeName.equals(endpoint.getNodeName())) {
                        continue;
                    }
                    // kube-proxy uses only the first address of an endpoint
                    String ip = IpFamily.canonical(endpoint.getAddresses().get(0));
                    if (ip == null || IpFamily.of(ip) != family) {
                        continue;
                    }
                    Candidate candidate = new Candidate(ip, InetAddresses.forString(ip).getAddress(), targetPort, use);
                    byAddress.merge(ip + ":" + targetPort, candidate,
                            (a, b) -> a.use.compareTo(b.use) <= 0 ? a : b);
                }
            }
        }
        boolean anyReady = byAddress.values().stream().anyMatch(c -> c.use == Use.READY);
        List<Backend> backends = new ArrayList<>();
        for (Candidate c : byAddress.values().stream().sorted(CANDIDATE_ORDER).toList()) {
            boolean active = c.use == Use.READY || (!anyReady && c.use == Use.SERVING_TERMINATING);
            backends.add(new Backend(c.ip, c.port, active ? Backend.State.ACTIVE : Backend.State.TERMINATING));
        }
        return backends;
    }

    /** An endpoint address and port; {@code bytes} is the address in network order (the backends' sort key). */
    private record Candidate(String ip, byte[] bytes, int port, Use use) {
    }

    /** Backends sorted by address (numerically), then port: a stable order whatever the slices' order. */
    private static final Comparator<Candidate> CANDIDATE_ORDER = Comparator
            .comparing(Candidate::bytes, Arrays::compareUnsigned)
            .thenComparingInt(Candidate::port);

    /** KEP-1669: ready (null = true) takes flows; serving (null = ready) and terminating may as a fallback. */
    private static Use useOf(EndpointConditions conditions) {
        Boolean readyField = conditions == null ? null : conditions.getReady();
        Boolean servingField = conditions == null ? null : conditions.getServing();
        Boolean terminatingField = conditions == null ? null : conditions.getTerminating();
        boolean ready = readyField == null || readyField;
        boolean serving = servingField == null ? ready : servingField;
        boolean terminating = terminatingField != null && terminatingField;
        if (ready) {
            return Use.READY;
        }
        if (terminating) {
            return serving ? Use.SERVING_TERMINATING : Use.TERMINATING;
        }
        return null;
    }

    /** TCP for null/empty, UDP, or null for anything else (SCTP). */
    private static Protocol protocolOf(String protocol) {
        if (protocol == null || protocol.isEmpty() || protocol.equals("TCP")) {
            return Protocol.TCP;
        }
        return protocol.equals("UDP") ? Protocol.UDP : null;
    }

    private static <T> List<T> nullToEmpty(List<T> list) {
        return list == null ? List.of() : list;
    }
}
