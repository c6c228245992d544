package io.enilb.watch;

import io.enilb.model.Backend;
import io.enilb.model.ClusterIp;
import io.enilb.model.IpFamily;
import io.enilb.model.NormalizedService;
import io.enilb.model.Protocol;
import io.enilb.model.ServiceKey;
import io.enilb.model.ServicePort;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Service;
import io.enilb.watch.Projection.Endpoints;
import io.enilb.watch.Projection.PortProjection;
import io.enilb.watch.Projection.ServiceProjection;
import io.enilb.watch.Projection.SliceProjection;
import io.enilb.watch.Projection.Use;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import java.util.ArrayList;
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
        // namespaces repeat across thousands of objects: one shared instance each
        return new ServiceKey(namespace == null || namespace.isEmpty() ? "default" : namespace.intern(),
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
     * Normalizes one Service from the fabric8 objects: projects them ({@link Projection}) and
     * normalizes the projections, exactly what the sources do.
     *
     * @param service the Service
     * @param slices  the EndpointSlices labelled with that Service's name (others are ignored)
     * @return the Service as enilb programs it, or empty when enilb does not proxy it
     */
    public Optional<NormalizedService> normalize(Service service, Collection<EndpointSlice> slices) {
        return normalize(Projection.of(service), slices.stream().map(Projection::of).toList());
    }

    /**
     * Normalizes one projected Service.
     *
     * @param service the Service
     * @param slices  the EndpointSlices labelled with that Service's name (others are ignored)
     * @return the Service as enilb programs it, or empty when enilb does not proxy it
     */
    public Optional<NormalizedService> normalize(ServiceProjection service, Collection<SliceProjection> slices) {
        ServiceKey key = service.key();
        if (!service.proxied()) {
            LOG.debug("service {}: not proxied by enilb (another proxy's, headless, ExternalName), skipped", key);
            return Optional.empty();
        }
        Map<IpFamily, String> addresses = clusterIpsByFamily(service);
        if (addresses.isEmpty()) {
            LOG.debug("service {}: no ClusterIP, skipped", key);
            return Optional.empty();
        }

        List<SliceProjection> ours = slices.stream()
                .filter(s -> key.equals(s.service()))
                .sorted(Comparator.comparing(s -> s.key().name()))
                .toList();

        List<ClusterIp> clusterIps = new ArrayList<>();
        for (Map.Entry<IpFamily, String> address : addresses.entrySet()) {
            IpFamily family = address.getKey();
            // a family's ClusterIP gets that family's slices only; FQDN slices match no family
            List<SliceProjection> familySlices = ours.stream()
                    .filter(s -> family.kubernetesName.equals(s.addressType()))
                    .toList();
            List<ServicePort> ports = ports(service, family, familySlices);
            if (ports.isEmpty()) {
                LOG.debug("service {}: no TCP or UDP port, skipped", key);
                return Optional.empty();
            }
            clusterIps.add(new ClusterIp(family, address.getValue(), ports));
        }
        return Optional.of(new NormalizedService(key, clusterIps, service.affinityTimeoutSeconds()));
    }

    private List<ServicePort> ports(ServiceProjection service, IpFamily family, List<SliceProjection> slices) {
        ServiceKey key = service.key();
        List<ServicePort> ports = new ArrayList<>();
        for (PortProjection port : service.ports()) {
            Protocol protocol = protocolOf(port.protocol());
            if (protocol == null) {
                if (sctpLogged.add(key)) {
                    LOG.info("service {}: port {} has protocol {}, which enilb does not translate; skipped",
                            key, port.port(), port.protocol());
                }
                continue;
            }
            if (port.port() < 1 || port.port() > 65535) {
                continue;
            }
            ports.add(new ServicePort(port.name(), protocol, port.port(),
                    backends(port.name(), protocol, family, slices, service.localOnly())));
        }
        return ports;
    }

    /**
     * The ClusterIP of each family, primary first: clusterIPs (dual-stack), else clusterIP; the
     * first address of a family wins (kube-proxy's GetClusterIPByFamily). Empty when headless.
     * The API server keeps clusterIPs, ipFamilies and ipFamilyPolicy consistent; from other
     * sources an address whose family spec.ipFamilies does not list is ignored, and
     * SingleStack keeps the primary family only.
     */
    private static Map<IpFamily, String> clusterIpsByFamily(ServiceProjection service) {
        Set<IpFamily> listed = EnumSet.noneOf(IpFamily.class);
        for (String name : service.ipFamilies()) {
            IpFamily family = IpFamily.ofKubernetes(name);
            if (family != null) {
                listed.add(family);
            }
        }
        Map<IpFamily, String> byFamily = new LinkedHashMap<>();
        for (String candidate : service.clusterIps()) {
            if (candidate == null || candidate.equals("None")) {
                return Map.of();
            }
            String ip = IpFamily.canonical(candidate);
            if (ip == null) {
                continue;
            }
            IpFamily family = IpFamily.of(ip);
            if (!listed.isEmpty() && !listed.contains(family)) {
                LOG.debug("service {}: ClusterIP {} is of no family in ipFamilies {}; ignored", service.key(), ip,
                        listed);
                continue;
            }
            byFamily.putIfAbsent(family, ip);
        }
        if ("SingleStack".equals(service.ipFamilyPolicy()) && byFamily.size() > 1) {
            IpFamily primary = byFamily.keySet().iterator().next();
            LOG.debug("service {}: SingleStack with ClusterIPs {}; only {} is programmed", service.key(),
                    byFamily.values(), primary.kubernetesName);
            return Map.of(primary, byFamily.get(primary));
        }
        return byFamily;
    }

    private List<Backend> backends(String portName, Protocol protocol, IpFamily family, List<SliceProjection> slices,
                                   boolean localOnly) {
        Map<Where, Use> byAddress = new LinkedHashMap<>();
        for (SliceProjection slice : slices) {
            for (PortProjection slicePort : slice.ports()) {
                if (!portName.equals(slicePort.name()) || protocolOf(slicePort.protocol()) != protocol
                        || slicePort.port() < 1 || slicePort.port() > 65535) {
                    continue;
                }
                int targetPort = slicePort.port();
                Endpoints endpoints = slice.endpoints();
                for (int i = 0; i < endpoints.size(); i++) {
                    if (localOnly && !nodeName.equals(endpoints.nodeName(i))) {
                        continue;
                    }
                    // an address of the other family in a slice of this addressType is not used
                    if (endpoints.family(i) != family) {
                        continue;
                    }
                    byAddress.merge(new Where(endpoints.addressHigh(i), endpoints.addressLow(i), targetPort),
                            endpoints.use(i), (a, b) -> a.compareTo(b) <= 0 ? a : b);
                }
            }
        }
        boolean anyReady = byAddress.containsValue(Use.READY);
        List<Backend> backends = new ArrayList<>(byAddress.size());
        byAddress.forEach((w, use) -> {
            boolean active = use == Use.READY || (!anyReady && use == Use.SERVING_TERMINATING);
            backends.add(Backend.of(w.high, w.low, w.port, active ? Backend.State.ACTIVE : Backend.State.TERMINATING));
        });
        // a stable order whatever the slices' order
        backends.sort(Backend.ENDPOINT_ORDER);
        return backends;
    }

    /** An endpoint address ({@link io.enilb.model.AddressBits}) and port. */
    private record Where(long high, long low, int port) {
    }

    /** TCP for null/empty, UDP, or null for anything else (SCTP). */
    static Protocol protocolOf(String protocol) {
        if (protocol == null || protocol.isEmpty() || protocol.equals("TCP")) {
            return Protocol.TCP;
        }
        return protocol.equals("UDP") ? Protocol.UDP : null;
    }
}
