package io.enilb.watch;

import static io.enilb.model.IpFamily.IPV4;
import static io.enilb.model.IpFamily.IPV6;
import static io.enilb.model.Protocol.TCP;
import static io.enilb.model.Protocol.UDP;
import static io.enilb.watch.K8s.active;
import static io.enilb.watch.K8s.endpoint;
import static io.enilb.watch.K8s.normalized;
import static io.enilb.watch.K8s.port;
import static io.enilb.watch.K8s.ready;
import static io.enilb.watch.K8s.service;
import static io.enilb.watch.K8s.slice;
import static io.enilb.watch.K8s.slicePort;
import static io.enilb.watch.K8s.sp;
import static io.enilb.watch.K8s.terminating;
import static org.assertj.core.api.Assertions.assertThat;

import io.enilb.model.ClusterIp;
import io.enilb.model.NormalizedService;
import io.enilb.model.ServiceKey;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** One row per kube-proxy rule the normalizer applies. */
class ServiceNormalizerTest {
    private static final String NODE = "node-a";
    private static final String IP = "198.19.0.10";
    private static final List<io.fabric8.kubernetes.api.model.discovery.v1.EndpointPort> HTTP_8080 =
            List.of(slicePort("http", "TCP", 8080));

    record Row(String description, Service service, List<EndpointSlice> slices,
                       NormalizedService expected) {
        @Override
        public String toString() {
            return description;
        }
    }

    private static Row row(String description, Service service, List<EndpointSlice> slices,
                           NormalizedService expected) {
        return new Row(description, service, slices, expected);
    }

    private static Service web(io.fabric8.kubernetes.api.model.ServicePort... ports) {
        return service("web", IP, ports);
    }

    private static Service webTyped(String type) {
        return service("web", IP, b -> b.editSpec().withType(type).endSpec(), port("http", "TCP", 80));
    }

    private static final NormalizedService WEB_ONE_BACKEND =
            normalized("web", IP, 0, sp("http", TCP, 80, active("198.18.0.1", 8080)));

    private static final List<EndpointSlice> ONE_READY =
            List.of(slice("web-1", "web", HTTP_8080, ready("198.18.0.1")));

    private static final ServiceKey KEY = new ServiceKey(K8s.NS, "web");
    private static final String IP6 = "2001:db8:19::10";
    private static final String POD6 = "2001:db8:18::1";
    private static final EndpointSlice V4_SLICE = slice("web-1", "web", HTTP_8080, ready("198.18.0.1"));
    private static final EndpointSlice V6_SLICE = slice("web-v6", "web", "IPv6", HTTP_8080, ready(POD6));
    private static final ClusterIp V4_FRONTENDS =
            new ClusterIp(IPV4, IP, List.of(sp("http", TCP, 80, active("198.18.0.1", 8080))));
    private static final ClusterIp V6_FRONTENDS =
            new ClusterIp(IPV6, IP6, List.of(sp("http", TCP, 80, active(POD6, 8080))));
    private static final NormalizedService WEB_V6_ONLY = new NormalizedService(KEY, List.of(V6_FRONTENDS), 0);

    /** A Service "web" on port 80 with the given family policy, spec.ipFamilies and spec.clusterIPs. */
    private static Service stack(String policy, List<String> families, String... clusterIps) {
        return service("web", clusterIps[0], b -> b.editSpec().withIpFamilyPolicy(policy).withIpFamilies(families)
                .withClusterIPs(clusterIps).endSpec(), port("http", "TCP", 80));
    }

    private static NormalizedService dual(ClusterIp primary, ClusterIp secondary) {
        return new NormalizedService(KEY, List.of(primary, secondary), 0);
    }

    static Stream<Arguments> rows() {
        return Stream.of(
                row("type ClusterIP is proxied", webTyped("ClusterIP"), ONE_READY, WEB_ONE_BACKEND),
                row("type NodePort is proxied (its ClusterIP)", webTyped("NodePort"), ONE_READY, WEB_ONE_BACKEND),
                row("type LoadBalancer is proxied (its ClusterIP)", webTyped("LoadBalancer"), ONE_READY,
                        WEB_ONE_BACKEND),
                row("type missing means ClusterIP", webTyped(null), ONE_READY, WEB_ONE_BACKEND),
                row("type ExternalName is skipped",
                        service("web", "", b -> b.editSpec().withType("ExternalName").withExternalName("x.example")
                                .endSpec(), port("http", "TCP", 80)), ONE_READY, null),
                row("headless (clusterIP None) is skipped", service("web", "None", port("http", "TCP", 80)),
                        ONE_READY, null),
                row("empty clusterIP is skipped", service("web", "", port("http", "TCP", 80)), ONE_READY, null),
                row("label service-proxy-name (any value) is skipped",
                        service("web", IP, b -> b.editMetadata()
                                .addToLabels(ServiceNormalizer.SERVICE_PROXY_NAME_LABEL, "").endMetadata(),
                                port("http", "TCP", 80)), ONE_READY, null),
                row("label service.kubernetes.io/headless is skipped",
                        service("web", IP, b -> b.editMetadata()
                                .addToLabels(ServiceNormalizer.HEADLESS_LABEL, "").endMetadata(),
                                port("http", "TCP", 80)), ONE_READY, null),
                row("protocol missing means TCP", web(port("http", null, 80)),
                        List.of(slice("web-1", "web", List.of(slicePort("http", null, 8080)), ready("198.18.0.1"))),
                        WEB_ONE_BACKEND),
                row("UDP port", web(port("dns", "UDP", 53)),
                        List.of(slice("web-1", "web", List.of(slicePort("dns", "UDP", 5353)), ready("198.18.0.1"))),
                        normalized("web", IP, 0, sp("dns", UDP, 53, active("198.18.0.1", 5353)))),
                row("SCTP port left out, the TCP port stays", web(port("http", "TCP", 80), port("sig", "SCTP", 9)),
                        ONE_READY, WEB_ONE_BACKEND),
                row("SCTP only: nothing to proxy", web(port("sig", "SCTP", 9)), ONE_READY, null),
                row("slice port of the same name but another protocol does not match", web(port("http", "TCP", 80)),
                        List.of(slice("web-1", "web", List.of(slicePort("http", "UDP", 8080)), ready("198.18.0.1"))),
                        normalized("web", IP, 0, sp("http", TCP, 80))),
                row("slices of another Service are ignored", web(port("http", "TCP", 80)),
                        List.of(slice("api-1", "api", HTTP_8080, ready("198.18.0.9"))),
                        normalized("web", IP, 0, sp("http", TCP, 80))),
                row("IPv6 slices are ignored", web(port("http", "TCP", 80)),
                        List.of(slice("web-v6", "web", "IPv6", HTTP_8080, ready("2001:db8::1")),
                                slice("web-1", "web", HTTP_8080, ready("198.18.0.1"))),
                        WEB_ONE_BACKEND),
                row("ports matched by name; the slice port number is the backend port",
                        web(port("http", "TCP", 80), port("metrics", "TCP", 9100)),
                        List.of(slice("web-1", "web", List.of(slicePort("metrics", "TCP", 19100),
                                slicePort("http", "TCP", 8080)), ready("198.18.0.1"))),
                        normalized("web", IP, 0, sp("http", TCP, 80, active("198.18.0.1", 8080)),
                                sp("metrics", TCP, 9100, active("198.18.0.1", 19100)))),
                row("unnamed port: null name in the slice equals \"\"", web(port("", "TCP", 80)),
                        List.of(slice("web-1", "web", List.of(slicePort(null, "TCP", 8080)), ready("198.18.0.1"))),
                        normalized("web", IP, 0, sp("", TCP, 80, active("198.18.0.1", 8080)))),
                row("same address and port in two slices counted once", web(port("http", "TCP", 80)),
                        List.of(slice("web-1", "web", HTTP_8080, ready("198.18.0.1")),
                                slice("web-2", "web", HTTP_8080, ready("198.18.0.1"), ready("198.18.0.2"))),
                        normalized("web", IP, 0, sp("http", TCP, 80, active("198.18.0.1", 8080),
                                active("198.18.0.2", 8080)))),
                row("ready missing means ready", web(port("http", "TCP", 80)),
                        List.of(slice("web-1", "web", HTTP_8080, endpoint("198.18.0.1", null, null, null, null))),
                        WEB_ONE_BACKEND),
                row("not ready and not terminating is left out", web(port("http", "TCP", 80)),
                        List.of(slice("web-1", "web", HTTP_8080, ready("198.18.0.1"),
                                endpoint("198.18.0.2", false, false, false, null))),
                        WEB_ONE_BACKEND),
                row("terminating next to ready ones: kept as TERMINATING", web(port("http", "TCP", 80)),
                        List.of(slice("web-1", "web", HTTP_8080, ready("198.18.0.1"),
                                endpoint("198.18.0.2", false, true, true, null),
                                endpoint("198.18.0.3", false, false, true, null))),
                        normalized("web", IP, 0, sp("http", TCP, 80, active("198.18.0.1", 8080),
                                terminating("198.18.0.2", 8080), terminating("198.18.0.3", 8080)))),
                row("no ready endpoint: serving-and-terminating ones take new flows", web(port("http", "TCP", 80)),
                        List.of(slice("web-1", "web", HTTP_8080,
                                endpoint("198.18.0.2", false, true, true, null),
                                endpoint("198.18.0.3", false, false, true, null))),
                        normalized("web", IP, 0, sp("http", TCP, 80, active("198.18.0.2", 8080),
                                terminating("198.18.0.3", 8080)))),
                row("serving missing defaults to ready (false): a not-ready terminating one stays TERMINATING",
                        web(port("http", "TCP", 80)),
                        List.of(slice("web-1", "web", HTTP_8080, endpoint("198.18.0.2", false, null, true, null))),
                        normalized("web", IP, 0, sp("http", TCP, 80, terminating("198.18.0.2", 8080)))),
                row("internalTrafficPolicy Local keeps this node's endpoints only",
                        service("web", IP, b -> b.editSpec().withInternalTrafficPolicy("Local").endSpec(),
                                port("http", "TCP", 80)),
                        List.of(slice("web-1", "web", HTTP_8080,
                                endpoint("198.18.0.1", true, true, false, NODE),
                                endpoint("198.18.0.2", true, true, false, "node-b"),
                                endpoint("198.18.0.3", true, true, false, null))),
                        WEB_ONE_BACKEND),
                row("internalTrafficPolicy Local falls back to local terminating ones, not remote ready ones",
                        service("web", IP, b -> b.editSpec().withInternalTrafficPolicy("Local").endSpec(),
                                port("http", "TCP", 80)),
                        List.of(slice("web-1", "web", HTTP_8080,
                                endpoint("198.18.0.1", false, true, true, NODE),
                                endpoint("198.18.0.2", true, true, false, "node-b"))),
                        WEB_ONE_BACKEND),
                row("sessionAffinity ClientIP without a timeout: 10800 s",
                        service("web", IP, b -> b.editSpec().withSessionAffinity("ClientIP").endSpec(),
                                port("http", "TCP", 80)), ONE_READY,
                        normalized("web", IP, 10800, sp("http", TCP, 80, active("198.18.0.1", 8080)))),
                row("sessionAffinity ClientIP with timeoutSeconds",
                        service("web", IP, b -> b.editSpec().withSessionAffinity("ClientIP")
                                .withNewSessionAffinityConfig().withNewClientIP().withTimeoutSeconds(600)
                                .endClientIP().endSessionAffinityConfig().endSpec(), port("http", "TCP", 80)),
                        ONE_READY,
                        normalized("web", IP, 600, sp("http", TCP, 80, active("198.18.0.1", 8080)))),
                row("sessionAffinity None: no affinity",
                        service("web", IP, b -> b.editSpec().withSessionAffinity("None").endSpec(),
                                port("http", "TCP", 80)), ONE_READY, WEB_ONE_BACKEND),
                // --- IP families: each family of a Service is its own frontend set (one kube-proxy per family)
                row("SingleStack IPv4: IPv6 slices are ignored",
                        stack("SingleStack", List.of("IPv4"), IP), List.of(V6_SLICE, V4_SLICE), WEB_ONE_BACKEND),
                row("SingleStack IPv6: the IPv6 ClusterIP with the IPv6 slices only",
                        stack("SingleStack", List.of("IPv6"), IP6), List.of(V4_SLICE, V6_SLICE), WEB_V6_ONLY),
                row("PreferDualStack on a single-stack cluster: one ClusterIP, one frontend set",
                        stack("PreferDualStack", List.of("IPv6"), IP6), List.of(V4_SLICE, V6_SLICE), WEB_V6_ONLY),
                row("PreferDualStack with both ClusterIPs, IPv6 primary: one frontend set per family, primary first",
                        stack("PreferDualStack", List.of("IPv6", "IPv4"), IP6, IP), List.of(V4_SLICE, V6_SLICE),
                        dual(V6_FRONTENDS, V4_FRONTENDS)),
                row("RequireDualStack, IPv4 primary: each ClusterIP gets its own family's endpoints",
                        stack("RequireDualStack", List.of("IPv4", "IPv6"), IP, IP6), List.of(V6_SLICE, V4_SLICE),
                        dual(V4_FRONTENDS, V6_FRONTENDS)),
                row("RequireDualStack, IPv6 not allocated yet: the IPv4 frontend set alone",
                        stack("RequireDualStack", List.of("IPv4", "IPv6"), IP), List.of(V6_SLICE, V4_SLICE),
                        WEB_ONE_BACKEND),
                row("no ipFamilyPolicy (older API objects): clusterIPs decide, both families",
                        stack(null, List.of(), IP, IP6), List.of(V6_SLICE, V4_SLICE), dual(V4_FRONTENDS, V6_FRONTENDS)),
                row("only clusterIP set (no clusterIPs), IPv6", service("web", IP6, port("http", "TCP", 80)),
                        List.of(V6_SLICE), WEB_V6_ONLY),
                row("SingleStack with two ClusterIPs (not from an API server): the primary only",
                        stack("SingleStack", List.of("IPv6", "IPv4"), IP6, IP), List.of(V4_SLICE, V6_SLICE),
                        WEB_V6_ONLY),
                row("a ClusterIP of a family ipFamilies does not list is ignored",
                        stack("PreferDualStack", List.of("IPv4"), IP, IP6), List.of(V4_SLICE, V6_SLICE),
                        WEB_ONE_BACKEND),
                row("two ClusterIPs of one family: the first (kube-proxy's GetClusterIPByFamily)",
                        stack(null, List.of(), IP, "198.19.0.11"), List.of(V4_SLICE), WEB_ONE_BACKEND),
                row("dual-stack with no endpoints of one family: that family's ports have no backends",
                        stack("RequireDualStack", List.of("IPv4", "IPv6"), IP, IP6), List.of(V4_SLICE),
                        dual(V4_FRONTENDS, new ClusterIp(IPV6, IP6, List.of(sp("http", TCP, 80))))),
                row("dual-stack affinity applies to both families",
                        service("web", IP, b -> b.editSpec().withClusterIPs(IP, IP6).withIpFamilies("IPv4", "IPv6")
                                .withIpFamilyPolicy("RequireDualStack").withSessionAffinity("ClientIP").endSpec(),
                                port("http", "TCP", 80)), List.of(V4_SLICE, V6_SLICE),
                        new NormalizedService(KEY, List.of(V4_FRONTENDS, V6_FRONTENDS), 10800)),
                row("headless dual-stack (None) is skipped", stack("RequireDualStack", List.of("IPv4", "IPv6"), "None"),
                        List.of(V4_SLICE, V6_SLICE), null),
                row("FQDN slices are ignored",
                        stack("RequireDualStack", List.of("IPv4", "IPv6"), IP, IP6),
                        List.of(slice("web-fqdn", "web", "FQDN", HTTP_8080, ready("backend.example")), V4_SLICE,
                                V6_SLICE), dual(V4_FRONTENDS, V6_FRONTENDS)),
                row("IPv6 in any spelling is written as RFC 5952 (ClusterIP and endpoints)",
                        stack("SingleStack", List.of("IPv6"), "2001:DB8:19:0:0:0:0:10"),
                        List.of(slice("web-v6", "web", "IPv6", HTTP_8080, ready("2001:0db8:0018:0000::0001"))),
                        WEB_V6_ONLY),
                row("an address of the other family inside a slice is ignored",
                        stack("RequireDualStack", List.of("IPv4", "IPv6"), IP, IP6),
                        List.of(slice("web-v6", "web", "IPv6", HTTP_8080, ready("198.18.0.7"), ready(POD6)),
                                slice("web-1", "web", HTTP_8080, ready("2001:db8:18::7"), ready("198.18.0.1"))),
                        dual(V4_FRONTENDS, V6_FRONTENDS)),
                row("IPv4-mapped IPv6 and zoned addresses are no ClusterIP",
                        stack(null, List.of(), "::ffff:198.19.0.10", "fe80::1%eth0"), List.of(V4_SLICE), null),
                row("IPv6 backends sorted numerically then by port",
                        stack("SingleStack", List.of("IPv6"), IP6),
                        List.of(slice("web-v6", "web", "IPv6", HTTP_8080, ready("2001:db8:18::a"),
                                ready("2001:db8:18::9"), ready("2001:db8:18::1:0"))),
                        normalized("web", IP6, 0, sp("http", TCP, 80, active("2001:db8:18::9", 8080),
                                active("2001:db8:18::a", 8080), active("2001:db8:18::1:0", 8080)))),
                row("only an endpoint's first address is used", web(port("http", "TCP", 80)),
                        List.of(slice("web-1", "web", HTTP_8080, new io.fabric8.kubernetes.api.model.discovery.v1
                                .EndpointBuilder().withAddresses("198.18.0.1", "198.18.0.7").build())),
                        WEB_ONE_BACKEND),
                row("backends sorted by IP (numerically) then port", web(port("http", "TCP", 80)),
                        List.of(slice("web-2", "web", List.of(slicePort("http", "TCP", 8081)),
                                        ready("198.18.0.10"), ready("198.18.0.9")),
                                slice("web-1", "web", HTTP_8080, ready("198.18.0.10"), ready("198.18.0.9"))),
                        normalized("web", IP, 0, sp("http", TCP, 80, active("198.18.0.9", 8080),
                                active("198.18.0.9", 8081), active("198.18.0.10", 8080),
                                active("198.18.0.10", 8081)))),
                row("no slices yet: the port has no backends", web(port("http", "TCP", 80)), List.of(),
                        normalized("web", IP, 0, sp("http", TCP, 80)))
        ).map(Arguments::of);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("rows")
    void normalizesLikeKubeProxy(Row row) {
        Optional<NormalizedService> result = new ServiceNormalizer(NODE).normalize(row.service(), row.slices());
        assertThat(result).isEqualTo(Optional.ofNullable(row.expected()));
    }

    @Test
    void neverChangesItsInput() {
        Service service = web(port("http", null, 80));
        List<EndpointSlice> slices = List.of(slice("web-1", "web", HTTP_8080, ready("198.18.0.1")));
        Service serviceCopy = new io.fabric8.kubernetes.api.model.ServiceBuilder(service).build();
        EndpointSlice sliceCopy = new io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder(slices.get(0))
                .build();
        new ServiceNormalizer(NODE).normalize(service, slices);
        assertThat(service).isEqualTo(serviceCopy);
        assertThat(slices.get(0)).isEqualTo(sliceCopy);
    }
}
