package io.enilb.watch;

import io.enilb.model.Backend;
import io.enilb.model.NormalizedService;
import io.enilb.model.Protocol;
import io.enilb.model.ServiceKey;
import io.enilb.model.ServicePort;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Service;
import io.enilb.watch.Projection.EndpointProjection;
import io.enilb.watch.Projection.PortProjection;
import io.enilb.watch.Projection.ServiceProjection;
import io.enilb.watch.Projection.SliceProjection;
import io.enilb.watch.Projection.Use;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
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
 * endpoints), internalTrafficPolicy and ClientIP session affinity. IPv4 only. Pure: it reads the
 * given objects and never changes them.
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

    private static final Comparator<Backend> BACKEND_ORDER = Comparator
            .comparingLong((Backend b) -> ipv4Value(b.ip()))
            .thenComparingInt(Backend::port);

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
        String clusterIp = service.clusterIp();
        if (clusterIp == null) {
            LOG.debug("service {}: no IPv4 ClusterIP, skipped", key);
            return Optional.empty();
        }

        List<SliceProjection> ours = slices.stream()
                .filter(SliceProjection::ipv4)
                .filter(s -> key.equals(s.service()))
                .sorted(Comparator.comparing(s -> s.key().name()))
                .toList();

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
                    backends(port.name(), protocol, ours, service.localOnly())));
        }
        if (ports.isEmpty()) {
            LOG.debug("service {}: no TCP or UDP port, skipped", key);
            return Optional.empty();
        }
        return Optional.of(new NormalizedService(key, clusterIp, ports, service.affinityTimeoutSeconds()));
    }

    private List<Backend> backends(String portName, Protocol protocol, List<SliceProjection> slices,
                                   boolean localOnly) {
        Map<String, Candidate> byAddress = new LinkedHashMap<>();
        for (SliceProjection slice : slices) {
            for (PortProjection slicePort : slice.ports()) {
                if (!portName.equals(slicePort.name()) || protocolOf(slicePort.protocol()) != protocol
                        || slicePort.port() < 1 || slicePort.port() > 65535) {
                    continue;
                }
                int targetPort = slicePort.port();
                for (EndpointProjection endpoint : slice.endpoints()) {
                    if (localOnly && !nodeName.equals(endpoint.nodeName())) {
                        continue;
                    }
                    Candidate candidate = new Candidate(endpoint.ip(), targetPort, endpoint.use());
                    byAddress.merge(endpoint.ip() + ":" + targetPort, candidate,
                            (a, b) -> a.use.compareTo(b.use) <= 0 ? a : b);
                }
            }
        }
        boolean anyReady = byAddress.values().stream().anyMatch(c -> c.use == Use.READY);
        List<Backend> backends = new ArrayList<>();
        for (Candidate c : byAddress.values()) {
            boolean active = c.use == Use.READY || (!anyReady && c.use == Use.SERVING_TERMINATING);
            backends.add(new Backend(c.ip, c.port, active ? Backend.State.ACTIVE : Backend.State.TERMINATING));
        }
        backends.sort(BACKEND_ORDER);
        return backends;
    }

    private record Candidate(String ip, int port, Use use) {
    }

    /** TCP for null/empty, UDP, or null for anything else (SCTP). */
    static Protocol protocolOf(String protocol) {
        if (protocol == null || protocol.isEmpty() || protocol.equals("TCP")) {
            return Protocol.TCP;
        }
        return protocol.equals("UDP") ? Protocol.UDP : null;
    }

    /** The dotted quad of an IPv4 address, canonical (no leading zeros), or null when it is not IPv4. */
    static String canonicalIpv4(String text) {
        if (text == null) {
            return null;
        }
        String[] parts = text.trim().split("\\.", -1);
        if (parts.length != 4) {
            return null;
        }
        StringBuilder out = new StringBuilder(15);
        for (String part : parts) {
            if (part.isEmpty() || part.length() > 3 || !part.chars().allMatch(Character::isDigit)) {
                return null;
            }
            int octet = Integer.parseInt(part);
            if (octet > 255) {
                return null;
            }
            if (out.length() > 0) {
                out.append('.');
            }
            out.append(octet);
        }
        return out.toString();
    }

    private static long ipv4Value(String dottedQuad) {
        long value = 0;
        for (String part : dottedQuad.split("\\.")) {
            value = (value << 8) | Integer.parseInt(part);
        }
        return value;
    }
}
