package io.enilb.lab;

import java.util.List;

/** Kubernetes YAML for the file source: a Service and its EndpointSlice, as an API server would hold them. */
public final class ServiceYaml {
    private ServiceYaml() {
    }

    /** One endpoint: its address, conditions and node. */
    public record Endpoint(String ip, boolean ready, boolean serving, boolean terminating, String node) {
        public static Endpoint ready(String ip) {
            return new Endpoint(ip, true, true, false, null);
        }

        /** Not ready and not terminating: a failing readiness probe. */
        public static Endpoint notReady(String ip) {
            return new Endpoint(ip, false, false, false, null);
        }

        public static Endpoint terminating(String ip) {
            return new Endpoint(ip, false, true, true, null);
        }

        public Endpoint onNode(String nodeName) {
            return new Endpoint(ip, ready, serving, terminating, nodeName);
        }
    }

    /**
     * A ClusterIP Service with one port (name "p") and its slice.
     *
     * @param extraSpec further Service spec lines, indented by two spaces (e.g. "  sessionAffinity: ClientIP")
     */
    public static String service(String name, String clusterIp, String protocol, int port, int targetPort,
                                 String extraSpec, List<Endpoint> endpoints) {
        return service(name, List.of(clusterIp), protocol, port, targetPort, extraSpec, endpoints);
    }

    /**
     * A ClusterIP Service with one port (name "p") and one EndpointSlice per family of its
     * ClusterIPs, each with that family's endpoints: single-stack for one ClusterIP (either
     * family), RequireDualStack for two (primary first), as an API server would hold it.
     */
    public static String service(String name, List<String> clusterIps, String protocol, int port, int targetPort,
                                 String extraSpec, List<Endpoint> endpoints) {
        List<String> families = clusterIps.stream().map(ServiceYaml::family).toList();
        StringBuilder y = new StringBuilder();
        y.append("apiVersion: v1\nkind: Service\nmetadata:\n  name: ").append(name).append("\n  namespace: default\n")
                .append("spec:\n  type: ClusterIP\n  clusterIP: ").append(clusterIps.get(0)).append('\n')
                .append("  clusterIPs: [").append(quoted(clusterIps)).append("]\n")
                .append("  ipFamilies: [").append(String.join(", ", families)).append("]\n")
                .append("  ipFamilyPolicy: ").append(clusterIps.size() > 1 ? "RequireDualStack" : "SingleStack").append('\n')
                .append("  ports:\n  - name: p\n    protocol: ").append(protocol).append("\n    port: ").append(port)
                .append("\n    targetPort: ").append(targetPort).append('\n');
        if (!extraSpec.isEmpty()) {
            y.append(extraSpec.endsWith("\n") ? extraSpec : extraSpec + "\n");
        }
        for (String family : families) {
            List<Endpoint> ours = endpoints.stream().filter(e -> family(e.ip).equals(family)).toList();
            y.append("---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: ").append(name)
                    .append(family.equals("IPv4") ? "-1" : "-v6").append("\n  namespace: default\n  labels:\n")
                    .append("    kubernetes.io/service-name: ").append(name).append('\n')
                    .append("addressType: ").append(family).append("\nports:\n- name: p\n  protocol: ").append(protocol)
                    .append("\n  port: ").append(targetPort).append('\n');
            if (ours.isEmpty()) {
                y.append("endpoints: []\n");
            } else {
                y.append("endpoints:\n");
                for (Endpoint e : ours) {
                    y.append("- addresses: [\"").append(e.ip).append("\"]\n  conditions: {ready: ").append(e.ready)
                            .append(", serving: ").append(e.serving).append(", terminating: ").append(e.terminating)
                            .append("}\n");
                    if (e.node != null) {
                        y.append("  nodeName: ").append(e.node).append('\n');
                    }
                }
            }
        }
        return y.toString();
    }

    private static String family(String ip) {
        return ip.indexOf(':') >= 0 ? "IPv6" : "IPv4";
    }

    private static String quoted(List<String> ips) {
        return String.join(", ", ips.stream().map(ip -> "\"" + ip + "\"").toList());
    }
}
