package io.enilb.daemon.config;

import io.enilb.bpf.TcAttach;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * The daemon's validated configuration; {@link ConfigLoader} builds it from the YAML file and
 * {@code ENILB_*} environment variables. Every section is the YAML mapping of the same name.
 */
public record EnilbConfig(Source source, File file, Kubernetes kubernetes, Node node, Cni cni, Health health,
                          Bpf bpf, NatMap natmap, Conntrack conntrack, Optional<Cidr> serviceCidr,
                          Optional<Cidr> serviceCidr6, State state,
                          Flows flows, SocketLb socketLb, Metrics metrics) {

    public EnilbConfig {
        Objects.requireNonNull(source, "source");
        Objects.requireNonNull(file, "file");
        Objects.requireNonNull(kubernetes, "kubernetes");
        Objects.requireNonNull(node, "node");
        Objects.requireNonNull(cni, "cni");
        Objects.requireNonNull(health, "health");
        Objects.requireNonNull(bpf, "bpf");
        Objects.requireNonNull(natmap, "natmap");
        Objects.requireNonNull(conntrack, "conntrack");
        Objects.requireNonNull(serviceCidr, "serviceCidr");
        Objects.requireNonNull(serviceCidr6, "serviceCidr6");
        Objects.requireNonNull(state, "state");
        Objects.requireNonNull(flows, "flows");
        Objects.requireNonNull(socketLb, "socketLb");
        Objects.requireNonNull(metrics, "metrics");
    }

    /** Where Services and EndpointSlices come from. */
    public enum Source {
        KUBERNETES("kubernetes"), FILE("file");

        /** As written in the configuration and in {@link io.enilb.bus.SyncState#source()}. */
        public final String value;

        Source(String value) {
            this.value = value;
        }
    }

    /**
     * {@code socket-lb}: Service translation at the socket (cgroup connect/sendmsg/recvmsg/getpeername
     * hooks on the cgroup v2 root) for the attached pods, with tc as the fallback. AUTO: on when
     * the host has cgroup v2; ON: required (not ready without it); OFF: tc only, hooks removed.
     */
    public enum SocketLb {
        AUTO("auto"), ON("on"), OFF("off");

        /** As written in the configuration. */
        public final String value;

        SocketLb(String value) {
            this.value = value;
        }
    }

    /** {@code file.*}: the directory of the file source. */
    public record File(Path dir) {
    }

    /**
     * {@code kubernetes.*}: kubeconfig path (empty means in-cluster, else {@code ~/.kube/config});
     * how the initial state is read ({@code watch-list}: auto, on, off) and the page size of a paged list.
     */
    public record Kubernetes(String kubeconfig, String watchList, int listChunk) {
    }

    /**
     * {@code metrics.*}: which Service frontends get their own series ({@code per-service}: all,
     * none, "top N" by traffic, or auto: all up to a threshold of frontends, the top N beyond).
     */
    public record Metrics(String perService) {
    }

    /** {@code node.*}: this node's name as Kubernetes knows it. */
    public record Node(String name) {
    }

    /**
     * {@code cni.*}: the unix socket enilb-cni talks to and its limits; {@code procRoot} is where
     * the host's /proc is mounted (a CNI_NETNS of /proc/PID/ns/net names a host PID).
     */
    public record Cni(Path socket, List<Integer> allowedUids, int maxRequestBytes, int readTimeoutMs, Path procRoot) {
        public Cni {
            allowedUids = List.copyOf(allowedUids);
        }
    }

    /**
     * {@code health.*}: where the health HTTP server listens (everything, /v1 included), and the
     * optional second listener for probes and Prometheus only (/healthz, /readyz, /metrics).
     */
    public record Health(HostPort listen, Optional<HostPort> probeListen) {
    }

    /** A {@code host:port} pair. */
    public record HostPort(String host, int port) {
        @Override
        public String toString() {
            return host.contains(":") ? "[" + host + "]:" + port : host + ":" + port;
        }
    }

    /** {@code bpf.*}: pinning, the compiled object, map sizes, and how programs go on pods' devices. */
    public record Bpf(Path pinRoot, Path object, int maxServices, int maxBackends, int ctSize, int maxPods,
                      TcAttach tcAttach) {
    }

    /** An IPv4 prefix ({@code service-cidr}) or IPv6 prefix ({@code service-cidr6}, address in RFC 5952 form), {@code address/prefixLength} with no host bits set. */
    public record Cidr(String address, int prefixLength) {
        @Override
        public String toString() {
            return address + "/" + prefixLength;
        }
    }

    /** {@code natmap.*}: batching of map writes. */
    public record NatMap(int batchSize, int lingerMs, int queueCapacity) {
    }

    /**
     * {@code conntrack.*}: how long a flow's entry lives without traffic, by state, and the
     * bounds of the adaptive GC interval.
     */
    public record Conntrack(Duration tcpSyn, Duration tcpEstablished, Duration tcpClosing, Duration other,
                            Duration gcIntervalMin, Duration gcIntervalMax) {
    }

    /** {@code state.*}: where the daemon keeps state across restarts. */
    public record State(Path dir) {
    }

    /** {@code flows.*}: flow events (per CPU rate and burst the datapath may emit; events kept; hand-off queue). */
    public record Flows(int rate, int burst, int recent, int queueCapacity) {
    }

    /** The configuration {@code io.enilb.watch.WatcherVerticle} reads. */
    public JsonObject watcherConfig() {
        return new JsonObject()
                .put("source", source.value)
                .put("file", new JsonObject().put("dir", file.dir().toString()))
                .put("kubernetes", new JsonObject().put("kubeconfig", kubernetes.kubeconfig())
                        .put("watch-list", kubernetes.watchList()).put("list-chunk", kubernetes.listChunk()))
                .put("node", new JsonObject().put("name", node.name()));
    }
}
