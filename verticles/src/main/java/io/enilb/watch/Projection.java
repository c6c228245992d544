package io.enilb.watch;

import io.enilb.model.AddressBits;
import io.enilb.model.IpFamily;
import io.enilb.model.ServiceKey;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceSpec;
import io.fabric8.kubernetes.api.model.discovery.v1.Endpoint;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointConditions;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointPort;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * What enilb reads of a Service and of an EndpointSlice, and nothing else: the catalog and the
 * informers' stores keep these instead of fabric8's model objects. A fabric8 object carries every
 * field of the API (and an {@code additionalProperties} map per nested object); at 10 000 Services
 * those were most of the daemon's heap. The projection keeps the fields {@link ServiceNormalizer}
 * reads, with the per-object decisions already taken (whether enilb proxies the Service, how each
 * endpoint may be used, endpoint addresses as {@link AddressBits} packed per slice: {@link Endpoints}), and
 * shares the strings that repeat (namespaces, node names, port names).
 *
 * <p>Projections are immutable and {@code equals} by value, so an update that changes nothing
 * enilb reads is seen as no change.
 */
public final class Projection {
    private Projection() {
    }

    /** A projected object: its identity and the version it was projected from. */
    public interface Projected {
        ServiceKey key();

        String resourceVersion();
    }

    /**
     * A Service as enilb reads it.
     *
     * @param proxied                false when enilb leaves it alone (another proxy's, headless by label, ExternalName, no spec)
     * @param clusterIps             spec.clusterIPs, else [spec.clusterIP], as written ("None" when headless);
     *                               the normalizer picks one per family
     * @param ipFamilies             spec.ipFamilies as written (IPv4, IPv6), possibly empty
     * @param ipFamilyPolicy         spec.ipFamilyPolicy (SingleStack, PreferDualStack, RequireDualStack), or null
     * @param localOnly              internalTrafficPolicy Local
     * @param affinityTimeoutSeconds ClientIP session affinity timeout, 0 for none
     */
    public record ServiceProjection(ServiceKey key, String resourceVersion, boolean proxied, List<String> clusterIps,
                                    List<String> ipFamilies, String ipFamilyPolicy, boolean localOnly,
                                    int affinityTimeoutSeconds, List<PortProjection> ports)
            implements Projected {
        public ServiceProjection {
            Objects.requireNonNull(key, "key");
            // unmodifiable, nulls kept: a null entry of clusterIPs makes the Service headless, as before
            clusterIps = Collections.unmodifiableList(new ArrayList<>(clusterIps));
            ipFamilies = List.copyOf(ipFamilies);
            ports = List.copyOf(ports);
        }
    }

    /**
     * A Service port or an EndpointSlice port.
     *
     * @param name     "" when unnamed
     * @param protocol as written ("TCP" when absent); the normalizer skips what it does not translate
     * @param port     the port, 0 when absent
     */
    public record PortProjection(String name, String protocol, int port) {
    }

    /**
     * An EndpointSlice as enilb reads it.
     *
     * @param service   the Service it belongs to (its service-name label), or null
     * @param addressType IPv4, IPv6 or FQDN as written (null when absent); the normalizer gives a
     *                  family's ClusterIP that family's slices only
     * @param endpoints the endpoints that may take traffic, in the slice's order
     */
    public record SliceProjection(ServiceKey key, String resourceVersion, ServiceKey service, String addressType,
                                  List<PortProjection> ports, Endpoints endpoints)
            implements Projected {
        public SliceProjection {
            Objects.requireNonNull(key, "key");
            Objects.requireNonNull(endpoints, "endpoints");
            ports = List.copyOf(ports);
        }

        /** A slice whose endpoints are given one by one. */
        public SliceProjection(ServiceKey key, String resourceVersion, ServiceKey service, String addressType,
                               List<PortProjection> ports, List<EndpointProjection> endpoints) {
            this(key, resourceVersion, service, addressType, ports, Endpoints.of(endpoints));
        }
    }

    /**
     * One usable endpoint of a slice.
     *
     * @param ip       its first address (kube-proxy uses only the first), canonical IPv4 or IPv6 ({@link IpFamily#canonical})
     * @param nodeName where it runs, or null
     * @param use      how it may be used
     */
    public record EndpointProjection(String ip, String nodeName, Use use) {
    }

    /** How an endpoint may be used, best first; a duplicate address keeps its best use (KEP-1669). */
    public enum Use { READY, SERVING_TERMINATING, TERMINATING }

    /**
     * The usable endpoints of a slice, packed: per endpoint its address as {@link AddressBits} in
     * a long array, its node name (one shared instance per node) and its use, 21 bytes where an
     * {@link EndpointProjection} with its address as text took about 84. The catalog keeps one per
     * slice for as long as the slice exists (500 000 endpoints at 50 000 Services). Immutable,
     * equal by value.
     */
    public static final class Endpoints {
        private static final Use[] USES = Use.values();
        static final Endpoints NONE = new Endpoints(new long[0], new String[0], new byte[0]);

        /** two per endpoint: the address's high and low long */
        private final long[] addresses;
        private final String[] nodeNames;
        private final byte[] uses;

        private Endpoints(long[] addresses, String[] nodeNames, byte[] uses) {
            this.addresses = addresses;
            this.nodeNames = nodeNames;
            this.uses = uses;
        }

        /** The endpoints given one by one; IllegalArgumentException for an address that is not an IP address. */
        public static Endpoints of(List<EndpointProjection> endpoints) {
            Builder builder = new Builder(endpoints.size());
            for (EndpointProjection e : endpoints) {
                byte[] address = AddressBits.parse(e.ip());
                if (address == null) {
                    throw new IllegalArgumentException("endpoint address is not an IP address: " + e.ip());
                }
                builder.add(address, e.nodeName(), Objects.requireNonNull(e.use(), "use"));
            }
            return builder.build();
        }

        public int size() {
            return uses.length;
        }

        /** The high long of endpoint {@code i}'s address ({@link AddressBits}). */
        public long addressHigh(int i) {
            return addresses[2 * i];
        }

        /** The low long of endpoint {@code i}'s address ({@link AddressBits}). */
        public long addressLow(int i) {
            return addresses[2 * i + 1];
        }

        public IpFamily family(int i) {
            return AddressBits.family(addressHigh(i), addressLow(i));
        }

        /** Where endpoint {@code i} runs, or null. */
        public String nodeName(int i) {
            return nodeNames[i];
        }

        public Use use(int i) {
            return USES[uses[i]];
        }

        /** Endpoint {@code i} with its address as text (made on each call). */
        public EndpointProjection get(int i) {
            return new EndpointProjection(AddressBits.text(addressHigh(i), addressLow(i)), nodeName(i), use(i));
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Endpoints e && Arrays.equals(addresses, e.addresses)
                    && Arrays.equals(nodeNames, e.nodeNames) && Arrays.equals(uses, e.uses);
        }

        @Override
        public int hashCode() {
            return (Arrays.hashCode(addresses) * 31 + Arrays.hashCode(nodeNames)) * 31 + Arrays.hashCode(uses);
        }

        @Override
        public String toString() {
            List<EndpointProjection> all = new ArrayList<>(size());
            for (int i = 0; i < size(); i++) {
                all.add(get(i));
            }
            return all.toString();
        }

        /** Collects endpoints in order; {@link #build} trims the arrays to what was added. */
        static final class Builder {
            private long[] addresses;
            private String[] nodeNames;
            private byte[] uses;
            private int size;

            Builder(int expected) {
                addresses = new long[2 * expected];
                nodeNames = new String[expected];
                uses = new byte[expected];
            }

            /** @param address 4 or 16 bytes ({@link AddressBits#parse}) */
            void add(byte[] address, String nodeName, Use use) {
                if (size == uses.length) {
                    int capacity = Math.max(4, 2 * size);
                    addresses = Arrays.copyOf(addresses, 2 * capacity);
                    nodeNames = Arrays.copyOf(nodeNames, capacity);
                    uses = Arrays.copyOf(uses, capacity);
                }
                addresses[2 * size] = AddressBits.high(address);
                addresses[2 * size + 1] = AddressBits.low(address);
                nodeNames[size] = shared(nodeName);
                uses[size] = (byte) use.ordinal();
                size++;
            }

            Endpoints build() {
                if (size == 0) {
                    return NONE;
                }
                if (size == uses.length) {
                    return new Endpoints(addresses, nodeNames, uses);
                }
                return new Endpoints(Arrays.copyOf(addresses, 2 * size), Arrays.copyOf(nodeNames, size),
                        Arrays.copyOf(uses, size));
            }
        }
    }

    /** The projection of a Service. */
    public static ServiceProjection of(Service service) {
        ServiceKey key = ServiceNormalizer.keyOf(service);
        ServiceSpec spec = service.getSpec();
        String version = service.getMetadata().getResourceVersion();
        if (spec == null || !proxied(service)) {
            return new ServiceProjection(key, version, false, List.of(), List.of(), null, false, 0, List.of());
        }
        List<PortProjection> ports = new ArrayList<>();
        for (io.fabric8.kubernetes.api.model.ServicePort port : nullToEmpty(spec.getPorts())) {
            ports.add(port(port.getName(), port.getProtocol(), port.getPort()));
        }
        List<String> clusterIps = new ArrayList<>(nullToEmpty(spec.getClusterIPs()));
        if (clusterIps.isEmpty() && spec.getClusterIP() != null) {
            clusterIps.add(spec.getClusterIP());
        }
        List<String> ipFamilies = nullToEmpty(spec.getIpFamilies()).stream().filter(Objects::nonNull)
                .map(Projection::shared).toList();
        return new ServiceProjection(key, version, true, clusterIps, ipFamilies, shared(spec.getIpFamilyPolicy()),
                "Local".equals(spec.getInternalTrafficPolicy()), affinityTimeout(spec), ports);
    }

    /** The projection of an EndpointSlice. */
    public static SliceProjection of(EndpointSlice slice) {
        List<PortProjection> ports = new ArrayList<>();
        for (EndpointPort port : nullToEmpty(slice.getPorts())) {
            ports.add(port(port.getName(), port.getProtocol(), port.getPort()));
        }
        List<Endpoint> all = nullToEmpty(slice.getEndpoints());
        Endpoints.Builder endpoints = new Endpoints.Builder(all.size());
        for (Endpoint endpoint : all) {
            Use use = useOf(endpoint.getConditions());
            if (use == null || endpoint.getAddresses() == null || endpoint.getAddresses().isEmpty()) {
                continue;
            }
            byte[] address = AddressBits.parse(endpoint.getAddresses().get(0));
            if (address != null) {
                endpoints.add(address, endpoint.getNodeName(), use);
            }
        }
        return new SliceProjection(ServiceNormalizer.keyOf(slice), slice.getMetadata().getResourceVersion(),
                ServiceNormalizer.serviceOf(slice).orElse(null), shared(slice.getAddressType()), ports,
                endpoints.build());
    }

    /** A projection of either kind; anything else is refused. */
    public static Projected of(HasMetadata object) {
        if (object instanceof Service service) {
            return of(service);
        }
        if (object instanceof EndpointSlice slice) {
            return of(slice);
        }
        throw new IllegalArgumentException("not a Service or EndpointSlice: " + object.getKind());
    }

    private static PortProjection port(String name, String protocol, Integer port) {
        return new PortProjection(name == null ? "" : shared(name), protocol == null || protocol.isEmpty() ? "TCP"
                : shared(protocol), port == null ? 0 : port);
    }

    private static boolean proxied(Service service) {
        Map<String, String> labels = service.getMetadata().getLabels();
        if (labels != null && (labels.containsKey(ServiceNormalizer.SERVICE_PROXY_NAME_LABEL)
                || labels.containsKey(ServiceNormalizer.HEADLESS_LABEL))) {
            return false;
        }
        String type = service.getSpec().getType();
        return type == null || type.isEmpty()
                || type.equals("ClusterIP") || type.equals("NodePort") || type.equals("LoadBalancer");
    }

    private static int affinityTimeout(ServiceSpec spec) {
        if (!"ClientIP".equals(spec.getSessionAffinity())) {
            return 0;
        }
        Integer timeout = spec.getSessionAffinityConfig() == null
                || spec.getSessionAffinityConfig().getClientIP() == null
                ? null : spec.getSessionAffinityConfig().getClientIP().getTimeoutSeconds();
        return timeout == null || timeout <= 0 ? ServiceNormalizer.DEFAULT_AFFINITY_TIMEOUT_SECONDS : timeout;
    }

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

    /** One instance per distinct value: names that thousands of objects repeat (JVM string table). */
    private static String shared(String s) {
        return s == null ? null : s.intern();
    }

    private static <T> List<T> nullToEmpty(List<T> list) {
        return list == null ? List.of() : list;
    }
}
