package io.enilb.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.List;
import java.util.Locale;

import io.enilb.bpf.Ipv4;

/**
 * ClusterIP rule sets written the way kube-proxy writes them, for the benchmark's "node"
 * namespaces: an {@code iptables-restore} input like the iptables proxier's full sync
 * (pkg/proxy/iptables/proxier.go) and an {@code nft -f} input like the nftables proxier's
 * (pkg/proxy/nftables/proxier.go). Only what a ClusterIP Service with ready endpoints produces
 * (no NodePorts, LoadBalancers, affinity or topology), with the same chain names (base32 of a
 * SHA-256, as kube-proxy hashes them), the same order and the same matches, so that the packet
 * walks the same rules it would on a node.
 */
public final class KubeProxyRules {
    /** kube-proxy's masquerade mark bit (--iptables-masquerade-bit=14). */
    private static final String MASQ_MARK = "0x4000";
    /** Above this many endpoints kube-proxy drops the per-endpoint comments ("large cluster mode"). */
    private static final int LARGE_CLUSTER_ENDPOINTS = 1000;

    private KubeProxyRules() {
    }

    /**
     * Writes the rule sets of integration/bench for N Services into DIR ({@code iptables-N.rules},
     * {@code nftables-N.nft}), to read or to load by hand.
     */
    public static void main(String[] args) throws IOException {
        if (args.length != 2) {
            System.err.println("usage: KubeProxyRules SERVICES DIR");
            System.exit(2);
        }
        int count = Integer.parseInt(args[0]);
        Path dir = Files.createDirectories(Path.of(args[1]));
        List<Service> services = PathBench.services(count);
        Files.writeString(dir.resolve("iptables-" + count + ".rules"),
                iptables(services, PathBench.CLUSTER_CIDR));
        Files.writeString(dir.resolve("nftables-" + count + ".nft"),
                nftables(services, PathBench.CLUSTER_CIDR, PathBench.SERVICE_CIDR));
    }

    /** One ClusterIP Service port with its ready endpoints; protocol TCP. */
    public record Service(String namespace, String name, String portName, int clusterIp, int port, List<Endpoint> endpoints) {
        /** kube-proxy's ServicePortName.String(): namespace/name:port. */
        String portNameString() {
            return namespace + "/" + name + ":" + portName;
        }
    }

    public record Endpoint(int ip, int port) {
        String ipPort() {
            return Ipv4.format(ip) + ":" + port;
        }
    }

    /**
     * The iptables-restore input for these Services in this order (kube-proxy orders
     * KUBE-SERVICES by iterating a Go map, so a given Service sits at a random place in it).
     * {@code clusterCidr} is kube-proxy's --cluster-cidr (the local-traffic detector).
     */
    public static String iptables(List<Service> services, String clusterCidr) {
        int endpointCount = services.stream().mapToInt(s -> s.endpoints().size()).sum();
        boolean largeCluster = endpointCount > LARGE_CLUSTER_ENDPOINTS;
        StringBuilder filter = new StringBuilder(1024);
        filter.append("*filter\n");
        for (String chain : List.of("KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-FORWARD", "KUBE-PROXY-FIREWALL",
                "KUBE-NODEPORTS")) {
            filter.append(':').append(chain).append(" - [0:0]\n");
        }
        filter.append("-A INPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL\n")
                .append("-A INPUT -m comment --comment \"kubernetes health check service ports\" -j KUBE-NODEPORTS\n")
                .append("-A INPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes externally-visible service portals\" -j KUBE-EXTERNAL-SERVICES\n")
                .append("-A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL\n")
                .append("-A FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD\n")
                .append("-A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n")
                .append("-A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes externally-visible service portals\" -j KUBE-EXTERNAL-SERVICES\n")
                .append("-A OUTPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL\n")
                .append("-A OUTPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n")
                .append("-A KUBE-FORWARD -m conntrack --ctstate INVALID -m comment --comment \"kubernetes forwarding rules\" -j DROP\n")
                .append("-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\" -m mark --mark ")
                .append(MASQ_MARK).append('/').append(MASQ_MARK).append(" -j ACCEPT\n")
                .append("-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n")
                .append("COMMIT\n");

        StringBuilder chains = new StringBuilder(services.size() * 64 + endpointCount * 48);
        StringBuilder rules = new StringBuilder(services.size() * 600 + endpointCount * 400);
        chains.append("*nat\n");
        for (String chain : List.of("KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ")) {
            chains.append(':').append(chain).append(" - [0:0]\n");
        }
        rules.append("-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n")
                .append("-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n")
                .append("-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING\n")
                .append("-A KUBE-MARK-MASQ -j MARK --or-mark ").append(MASQ_MARK).append('\n')
                .append("-A KUBE-POSTROUTING -m mark ! --mark ").append(MASQ_MARK).append('/').append(MASQ_MARK).append(" -j RETURN\n")
                .append("-A KUBE-POSTROUTING -j MARK --xor-mark ").append(MASQ_MARK).append('\n')
                .append("-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully\n");
        StringBuilder perService = new StringBuilder(services.size() * 500 + endpointCount * 400);
        for (Service svc : services) {
            String portName = svc.portNameString();
            String svcChain = "KUBE-SVC-" + base32Sha256(portName + "tcp", 16);
            String vip = Ipv4.format(svc.clusterIp()) + "/32";
            chains.append(':').append(svcChain).append(" - [0:0]\n");
            rules.append("-A KUBE-SERVICES -m comment --comment \"").append(portName).append(" cluster IP\" -m tcp -p tcp -d ")
                    .append(vip).append(" --dport ").append(svc.port()).append(" -j ").append(svcChain).append('\n');
            perService.append("-A ").append(svcChain).append(" -m comment --comment \"").append(portName)
                    .append(" cluster IP\" -m tcp -p tcp -d ").append(vip).append(" --dport ").append(svc.port())
                    .append(" ! -s ").append(clusterCidr).append(" -j KUBE-MARK-MASQ\n");
            int n = svc.endpoints().size();
            for (int i = 0; i < n; i++) {
                Endpoint ep = svc.endpoints().get(i);
                String sepChain = "KUBE-SEP-" + base32Sha256(portName + "tcp" + ep.ipPort(), 16);
                chains.append(':').append(sepChain).append(" - [0:0]\n");
                perService.append("-A ").append(svcChain);
                if (!largeCluster) {
                    perService.append(" -m comment --comment \"").append(portName).append(" -> ").append(ep.ipPort()).append('"');
                }
                if (i < n - 1) {
                    perService.append(" -m statistic --mode random --probability ")
                            .append(String.format(Locale.ROOT, "%.10f", 1.0 / (n - i)));
                }
                perService.append(" -j ").append(sepChain).append('\n');
                String comment = largeCluster ? "" : " -m comment --comment " + portName;
                perService.append("-A ").append(sepChain).append(comment).append(" -s ").append(Ipv4.format(ep.ip()))
                        .append("/32 -j KUBE-MARK-MASQ\n");
                perService.append("-A ").append(sepChain).append(comment).append(" -m tcp -p tcp -j DNAT --to-destination ")
                        .append(ep.ipPort()).append('\n');
            }
        }
        rules.append("-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\""
                + " -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n");
        return filter.append(chains).append(rules).append(perService).append("COMMIT\n").toString();
    }

    /**
     * The nft -f input for these Services: table ip kube-proxy replaced in one transaction, a
     * service-ips verdict map (ClusterIP . protocol . port) jumping to a chain per Service port,
     * which picks an endpoint chain with {@code numgen random mod N vmap}.
     */
    public static String nftables(List<Service> services, String clusterCidr, String serviceCidr) {
        int endpointCount = services.stream().mapToInt(s -> s.endpoints().size()).sum();
        StringBuilder out = new StringBuilder(services.size() * 700 + endpointCount * 300);
        // "add" then "delete" makes the file replace the table whether or not it exists, atomically
        out.append("add table ip kube-proxy { comment \"rules for kube-proxy\" ; }\n")
                .append("delete table ip kube-proxy\n")
                .append("add table ip kube-proxy { comment \"rules for kube-proxy\" ; }\n");
        out.append("""
                add chain ip kube-proxy mark-for-masquerade
                add rule ip kube-proxy mark-for-masquerade mark set mark or 0x4000
                add chain ip kube-proxy masquerading
                add rule ip kube-proxy masquerading mark and 0x4000 == 0 return
                add rule ip kube-proxy masquerading mark set mark xor 0x4000
                add rule ip kube-proxy masquerading masquerade fully-random
                add chain ip kube-proxy services
                add chain ip kube-proxy service-endpoints-check
                add chain ip kube-proxy nodeport-endpoints-check
                add chain ip kube-proxy firewall-check
                add chain ip kube-proxy cluster-ips-check
                add chain ip kube-proxy reject-chain { comment "helper for @no-endpoint-services / @no-endpoint-nodeports" ; }
                add rule ip kube-proxy reject-chain reject
                add chain ip kube-proxy filter-prerouting { type filter hook prerouting priority -110 ; }
                add rule ip kube-proxy filter-prerouting ct state new jump firewall-check
                add chain ip kube-proxy filter-input { type filter hook input priority -110 ; }
                add rule ip kube-proxy filter-input ct state new jump nodeport-endpoints-check
                add rule ip kube-proxy filter-input ct state new jump service-endpoints-check
                add chain ip kube-proxy filter-forward { type filter hook forward priority -110 ; }
                add rule ip kube-proxy filter-forward ct state new jump service-endpoints-check
                add rule ip kube-proxy filter-forward ct state new jump cluster-ips-check
                add chain ip kube-proxy filter-output { type filter hook output priority -110 ; }
                add rule ip kube-proxy filter-output ct state new jump service-endpoints-check
                add rule ip kube-proxy filter-output ct state new jump firewall-check
                add chain ip kube-proxy filter-output-post-dnat { type filter hook output priority -90 ; }
                add rule ip kube-proxy filter-output-post-dnat ct state new jump cluster-ips-check
                add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }
                add rule ip kube-proxy nat-prerouting jump services
                add chain ip kube-proxy nat-output { type nat hook output priority -100 ; }
                add rule ip kube-proxy nat-output jump services
                add chain ip kube-proxy nat-postrouting { type nat hook postrouting priority 100 ; }
                add rule ip kube-proxy nat-postrouting jump masquerading
                add set ip kube-proxy cluster-ips { type ipv4_addr ; comment "Active ClusterIPs" ; }
                add map ip kube-proxy firewall-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "destinations that are subject to LoadBalancerSourceRanges" ; }
                add map ip kube-proxy no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to services with no endpoints" ; }
                add map ip kube-proxy no-endpoint-nodeports { type inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to service nodeports with no endpoints" ; }
                add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }
                add map ip kube-proxy service-nodeports { type inet_proto . inet_service : verdict ; comment "NodePort traffic" ; }
                add rule ip kube-proxy firewall-check ip daddr . meta l4proto . th dport vmap @firewall-ips
                add rule ip kube-proxy service-endpoints-check ip daddr . meta l4proto . th dport vmap @no-endpoint-services
                add rule ip kube-proxy nodeport-endpoints-check ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @no-endpoint-nodeports
                add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips
                add rule ip kube-proxy services fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports
                """);
        out.append("add rule ip kube-proxy cluster-ips-check ip daddr @cluster-ips reject comment \"Reject traffic to invalid ports of ClusterIPs\"\n")
                .append("add rule ip kube-proxy cluster-ips-check ip daddr { ").append(serviceCidr)
                .append(" } drop comment \"Drop traffic to unallocated ClusterIPs\"\n");
        for (Service svc : services) {
            String base = hashAndTruncate(svc.namespace() + "/" + svc.name() + "/tcp/" + svc.portName());
            String svcChain = "service-" + base;
            String vip = Ipv4.format(svc.clusterIp());
            out.append("add element ip kube-proxy cluster-ips { ").append(vip).append(" }\n");
            out.append("add chain ip kube-proxy ").append(svcChain).append('\n');
            out.append("add rule ip kube-proxy ").append(svcChain).append(" ip daddr ").append(vip).append(" tcp dport ")
                    .append(svc.port()).append(" ip saddr != ").append(clusterCidr).append(" jump mark-for-masquerade\n");
            StringBuilder vmap = new StringBuilder();
            int n = svc.endpoints().size();
            for (int i = 0; i < n; i++) {
                Endpoint ep = svc.endpoints().get(i);
                String epChain = "endpoint-" + hashAndTruncate(svc.namespace() + "/" + svc.name() + "/tcp/" + svc.portName()
                        + "__" + Ipv4.format(ep.ip()) + "/" + ep.port());
                out.append("add chain ip kube-proxy ").append(epChain).append('\n')
                        .append("add rule ip kube-proxy ").append(epChain).append(" ip saddr ").append(Ipv4.format(ep.ip()))
                        .append(" jump mark-for-masquerade\n")
                        .append("add rule ip kube-proxy ").append(epChain).append(" meta l4proto tcp dnat to ")
                        .append(ep.ipPort()).append('\n');
                vmap.append(i == 0 ? "" : " , ").append(i).append(" : goto ").append(epChain);
            }
            out.append("add rule ip kube-proxy ").append(svcChain).append(" numgen random mod ").append(n)
                    .append(" vmap { ").append(vmap).append(" }\n");
            out.append("add element ip kube-proxy service-ips { ").append(vip).append(" . tcp . ").append(svc.port())
                    .append(" : goto ").append(svcChain).append(" }\n");
        }
        return out.toString();
    }

    /** kube-proxy nftables' hashAndTruncate: 8 base32 characters of the SHA-256, a dash, the name. */
    private static String hashAndTruncate(String name) {
        String hashed = base32Sha256(name, 8) + "-" + name;
        return hashed.length() > 200 ? hashed.substring(0, 197) + "..." : hashed;
    }

    /** The first {@code chars} characters of base32 (RFC 4648, as Go's base32.StdEncoding) of SHA-256(text). */
    static String base32Sha256(String text, int chars) {
        byte[] hash;
        try {
            hash = MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        String alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        StringBuilder out = new StringBuilder(chars);
        int buffer = 0;
        int bits = 0;
        for (int i = 0; out.length() < chars; ) {
            if (bits < 5) {
                buffer = (buffer << 8) | (hash[i++] & 0xff);
                bits += 8;
            }
            out.append(alphabet.charAt((buffer >>> (bits - 5)) & 31));
            bits -= 5;
        }
        return out.toString();
    }
}
