package io.enilb.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.stream.IntStream;
import java.util.stream.Stream;

import io.enilb.bench.KubeProxyRules.Endpoint;
import io.enilb.bench.KubeProxyRules.Service;
import io.enilb.bpf.BpfObject;
import io.enilb.bpf.CgroupV2;
import io.enilb.bpf.Datapath;
import io.enilb.bpf.Ipv4;
import io.enilb.bpf.Ipv6;
import io.enilb.bpf.Maps;
import io.enilb.bpf.Structs.BackendEntry;
import io.enilb.bpf.Structs.BackendEntry6;
import io.enilb.bpf.Structs.CtConfig;
import io.enilb.bpf.Structs.FrontendPrefix6;
import io.enilb.bpf.Structs.RevNatValue;
import io.enilb.bpf.Structs.SlotKey;
import io.enilb.bpf.Structs.SlotValue;
import io.enilb.bpf.Structs.SvcKey;
import io.enilb.bpf.Structs.SvcKey6;
import io.enilb.bpf.Structs.SvcValue;
import io.enilb.bpf.TcAttach;
import io.enilb.lab.Lab;
import io.enilb.lab.Pod;

/**
 * Requests per second from a client pod to an nginx backend pod over six paths, with 1, 1 000
 * and 10 000 Services in the tables, short connections and keep-alive, runs interleaved, and the
 * CPU time the whole machine spent per request in each run (from /proc/stat; steadier than
 * req/s on a shared machine, though other load on it counts too):
 *
 * <ol>
 *   <li>direct: an independent-NIC pod to the backend's pod IP (no programs), the limit;</li>
 *   <li>enilb: an independent-NIC pod with enilb's tc programs attached, to the ClusterIP (per packet);</li>
 *   <li>enilb socket: the same with the cgroup socket hooks, to the ClusterIP (once per connection);</li>
 *   <li>iptables: a shared-NIC pod behind a node namespace with kube-proxy iptables rules, to the ClusterIP;</li>
 *   <li>nftables: the same with kube-proxy nftables rules;</li>
 *   <li>node: a shared-NIC pod through a node namespace without rules, to the pod IP (the node stack's own cost);</li>
 *   <li>direct IPv6 and enilb tc IPv6: the first two over IPv6 (the same pods with IPv6 addresses, an IPv6
 *       ClusterIP; as many IPv6 as IPv4 Services in the maps), compared with direct IPv6.</li>
 * </ol>
 *
 * <p>The measured Service (10 endpoints: ten addresses of the backend pod) sits in the middle of
 * the others, where kube-proxy's randomly ordered KUBE-SERVICES chain puts a Service on average;
 * the other Services have 10 endpoints each on addresses nobody uses. Prints markdown tables and
 * writes {@code runs.csv} and {@code tables.md} into the output directory. Run by
 * {@code integration/bench}; settings are system properties {@code enilb.bench.*} (see there).
 */
public final class PathBench {
    static final String MEASURED_VIP = "198.19.255.10";
    static final int PORT = 80;
    static final int ENDPOINTS_PER_SERVICE = 10;
    static final String CLUSTER_CIDR = "198.18.0.0/16";
    static final String SERVICE_CIDR = "198.19.0.0/16";
    /** IPv6 addresses mirror the IPv4 ones: 198.18.a.b -> 2001:db8:18::a:b (as hex), 198.19.a.b -> 2001:db8:19::a:b. */
    static final Ipv6 POD_NET6 = Ipv6.parse("2001:db8:18::");
    static final Ipv6 SERVICE_NET6 = Ipv6.parse("2001:db8:19::");

    /** The paths, in the order of the tables. */
    enum Route {
        DIRECT("direct (own NIC, pod IP)"),
        ENILB("enilb tc (own NIC, ClusterIP)"),
        SOCKET("enilb socket-lb (own NIC, ClusterIP)"),
        IPTABLES("kube-proxy iptables (node, ClusterIP)"),
        NFTABLES("kube-proxy nftables (node, ClusterIP)"),
        NODE("node, no Service (pod IP)"),
        DIRECT6("direct IPv6 (own NIC, pod IP)"),
        ENILB6("enilb tc IPv6 (own NIC, ClusterIP)");

        final String label;

        Route(String label) {
            this.label = label;
        }

        String key() {
            return name().toLowerCase(Locale.ROOT);
        }

        /** What the path is compared with: direct over the same family. */
        Route base() {
            return this == DIRECT6 || this == ENILB6 ? DIRECT6 : DIRECT;
        }
    }

    /** One wrk run's figure. */
    record Run(int services, boolean shortConnections, Route route, int round, double rps, long errors,
               double cpuUsPerRequest) {
    }

    /** Where a path's client sits and what it asks for. */
    record Target(String namespace, String ip) {
        String url() {
            return "http://" + (ip.indexOf(':') >= 0 ? "[" + ip + "]" : ip) + ":" + PORT + "/";
        }
    }

    private final int[] serviceCounts = ints(System.getProperty("enilb.bench.services", "1,1000,10000"));
    private final int rounds = Integer.getInteger("enilb.bench.rounds", 5);
    /** Extra rounds, up to this many in all, while a path's ratio to direct spreads more than ±5%. */
    private final int maxRounds = Integer.getInteger("enilb.bench.max-rounds", 2 * rounds);
    /** Profile one short-connection run per path with perf (cpu-clock, whole machine). */
    private final boolean profile = Boolean.parseBoolean(System.getProperty("enilb.bench.perf", "false"));
    private final int seconds = Integer.getInteger("enilb.bench.seconds", 3);
    private final int connections = Integer.getInteger("enilb.bench.connections", 32);
    private final int threads = Integer.getInteger("enilb.bench.threads", 1);
    private final boolean pin = Boolean.parseBoolean(System.getProperty("enilb.bench.pin", "true"))
            && Runtime.getRuntime().availableProcessors() >= 2;
    private final Path out = Path.of(System.getProperty("enilb.bench.out", "integration/target/bench"));
    private final Path pins = Path.of(System.getProperty("enilb.bench.pins",
            "/sys/fs/bpf/enilb-bench-" + UUID.randomUUID().toString().substring(0, 8)));
    private final Path object = Path.of(System.getProperty("enilb.bpf.object", "bpf/target/bpf/enilb.bpf.o"));
    /** enilb's conntrack map size; 0 keeps the compiled-in CT_SIZE. */
    private final int conntrackSize = Integer.getInteger("enilb.bench.ct-size", 0);
    /** The paths measured, in the order of the tables; each one's direct base is always among them. */
    private final List<Route> paths = paths(System.getProperty("enilb.bench.paths", "all"));
    /**
     * Whether enilb's conntrack map is emptied before each socket-lb run ("empty") or holds what the
     * tc runs before left ("kept"). A node whose pods connect through the socket hooks holds no
     * entry for those flows; the tc runs leave one per flow and direction (no GC runs here), and each
     * reply of a socket-lb flow looks its flow up in that table and misses.
     */
    private final boolean emptyConntrackForSocket = switch (System.getProperty("enilb.bench.socket-conntrack", "empty")) {
        case "empty" -> true;
        case "kept" -> false;
        default -> throw new IllegalArgumentException("enilb.bench.socket-conntrack: empty or kept");
    };

    private final List<Run> runs = new ArrayList<>();
    private final List<String> loadTimes = new ArrayList<>();
    private final List<String> notes = new ArrayList<>();
    /**
     * Whether the socket-lb pod's NIC has the tc programs too, as the daemon attaches them (the
     * fallback for raw sockets and connected UDP). false measures what the socket hooks alone cost.
     */
    private final boolean socketPodTc = Boolean.parseBoolean(System.getProperty("enilb.bench.socket-tc", "true"));
    /** How the pods get enilb's tc programs, as the daemon's bpf.tc-attach. */
    private final TcAttach tcAttach = TcAttach.of(System.getProperty("enilb.bench.tc-attach", "auto"));
    /** Per Service count, the most entries the conntrack map held when a socket-lb run emptied it. */
    private final Map<Integer, Integer> emptiedConntrack = new java.util.TreeMap<>();
    private Lab lab;
    private Datapath datapath;
    private Path work;
    private final Map<Route, Target> targets = new EnumMap<>(Route.class);
    private final List<Pod> nodes = new ArrayList<>();
    private Pod nodeIptables;
    private Pod nodeNftables;
    private int servicesInMaps;
    private Pod backend;
    private Process nginx;

    public static void main(String[] args) throws Exception {
        new PathBench().run();
    }

    private void run() throws IOException {
        Thread cleanup = new Thread(this::cleanUp, "bench-cleanup");
        Runtime.getRuntime().addShutdownHook(cleanup);
        try {
            Files.createDirectories(out);
            build();
            for (int count : serviceCounts) {
                try {
                    measure(count);
                } catch (RuntimeException e) {
                    if (!runs.isEmpty()) {
                        System.err.println("bench: failed; the runs so far:");
                        System.err.print(tables());
                    }
                    throw e;
                }
            }
            String tables = tables();
            System.out.print(tables);
            Files.createDirectories(out); // a "mvn clean" elsewhere may have removed it meanwhile
            Files.writeString(out.resolve("tables.md"), tables);
            writeCsv();
        } finally {
            cleanUp();
            try {
                Runtime.getRuntime().removeShutdownHook(cleanup);
            } catch (IllegalStateException shuttingDown) {
                // the hook is running or has run
            }
        }
    }

    /** The lab: a fabric, two independent-NIC clients, the backend, three node namespaces with a shared-NIC pod each. */
    private void build() throws IOException {
        progress("building the lab (pins " + pins + ")");
        lab = new Lab();
        work = Files.createTempDirectory("enilb-bench-");
        Files.setPosixFilePermissions(work, PosixFilePermissions.fromString("rwxr-xr-x"));

        backend = lab.pod("backend", "198.18.0.20", ipv6(POD_NET6, Ipv4.parse("198.18.0.20")));
        for (int i = 1; i < ENDPOINTS_PER_SERVICE; i++) {
            backend.exec("ip", "addr", "add", "198.18.0." + (20 + i) + "/" + Lab.POD_PREFIX_LEN, "dev", "eth0");
            backend.exec("ip", "addr", "add", ipv6(POD_NET6, Ipv4.parse("198.18.0." + (20 + i))) + "/"
                    + Lab.POD_PREFIX_LEN6, "dev", "eth0", "nodad");
        }
        backend.exec("sysctl", "-qw", "net.core.somaxconn=4096");
        backend.exec("sysctl", "-qw", "net.ipv4.tcp_max_syn_backlog=4096");
        Pod direct = lab.pod("cdirect", "198.18.0.10", ipv6(POD_NET6, Ipv4.parse("198.18.0.10")));
        Pod enilb = lab.pod("cenilb", "198.18.0.11", ipv6(POD_NET6, Ipv4.parse("198.18.0.11")));
        Pod socket = lab.pod("csocket", "198.18.0.12");
        targets.put(Route.DIRECT, new Target(direct.namespace(), backend.ip()));
        targets.put(Route.ENILB, new Target(enilb.namespace(), MEASURED_VIP));
        targets.put(Route.SOCKET, new Target(socket.namespace(), MEASURED_VIP));
        targets.put(Route.DIRECT6, new Target(direct.namespace(), backend.ip6()));
        targets.put(Route.ENILB6, new Target(enilb.namespace(), ipv6(SERVICE_NET6, Ipv4.parse(MEASURED_VIP))));

        Pod iptablesPod = sharedNicPod("ipt", 2, 200);
        Pod nftablesPod = sharedNicPod("nft", 3, 201);
        Pod plainPod = sharedNicPod("plain", 4, 202);
        nodeIptables = nodes.get(0);
        nodeNftables = nodes.get(1);
        targets.put(Route.IPTABLES, new Target(iptablesPod.namespace(), MEASURED_VIP));
        targets.put(Route.NFTABLES, new Target(nftablesPod.namespace(), MEASURED_VIP));
        targets.put(Route.NODE, new Target(plainPod.namespace(), backend.ip()));
        for (Target t : targets.values()) {
            lab.exec(t.namespace(), "sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65535");
        }

        startNginx();
        datapath = Datapath.load(object, pins,
                conntrackSize > 0 ? Map.of(BpfObject.MapNames.CONNTRACK, conntrackSize) : Map.of(), tcAttach);
        // as the daemon does: attached at ADD, moved to tcx links right after (auto)
        datapath.attach(enilb.netns(), "eth0");
        datapath.promote(enilb.netns(), "eth0");
        long tcOnly = datapath.registerAddresses(enilb.netns(), List.of(Ipv4.parse(enilb.ip())),
                List.of(Ipv6.parse(enilb.ip6())));
        // the Service CIDRs, as the daemon writes them (service-cidr, service-cidr6)
        datapath.maps().configure(CtConfig.DEFAULTS.withFrontendPrefix(Ipv4.parse("198.19.0.0"), 16));
        datapath.maps().configure6(FrontendPrefix6.of(SERVICE_NET6, 108));
        // the tc path is measured with this pod: it stays out of the socket hooks' scope
        datapath.maps().sockScope().delete(tcOnly);
        if (socketPodTc) {
            datapath.attach(socket.netns(), "eth0");
            datapath.promote(socket.netns(), "eth0");
        }
        datapath.registerAddresses(socket.netns(), List.of(Ipv4.parse(socket.ip())));
        Path cgroupRoot = CgroupV2.root().orElseThrow(() -> new IllegalStateException("no cgroup v2 mount: "
                + "the socket path needs one"));
        datapath.attachSocketHooks(cgroupRoot);
    }

    /** A shared-NIC pod behind its own node namespace (see {@link Lab#sharedNicPod}); the backend routes back via the node. */
    private Pod sharedNicPod(String name, int nodeHost, int subnet) {
        Lab.SharedNic shared = lab.sharedNicPod(name, nodeHost, subnet);
        lab.routeToSharedNic(backend, shared);
        nodes.add(shared.node());
        return shared.pod();
    }

    /** nginx with its own configuration, pid and logs in the work directory, one worker, a small static page. */
    private static String nginxBinary() {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/sbin:/usr/bin").split(":")) {
            if (Files.isExecutable(Path.of(dir, "nginx"))) {
                return Path.of(dir, "nginx").toString();
            }
        }
        throw new IllegalStateException("no nginx on PATH (integration/setup.sh installs nginx-light)");
    }

    private void startNginx() throws IOException {
        Path root = Files.createDirectories(work.resolve("www"));
        Files.writeString(root.resolve("index.html"), "<html><body>enilb bench</body></html>\n");
        Path conf = work.resolve("nginx.conf");
        String w = work.toString();
        Files.writeString(conf, """
                worker_processes 1;
                daemon off;
                pid %1$s/nginx.pid;
                error_log %1$s/error.log warn;
                events { worker_connections 8192; }
                http {
                    access_log off;
                    client_body_temp_path %1$s/body;
                    proxy_temp_path %1$s/proxy;
                    fastcgi_temp_path %1$s/fastcgi;
                    uwsgi_temp_path %1$s/uwsgi;
                    scgi_temp_path %1$s/scgi;
                    keepalive_requests 10000000;
                    keepalive_timeout 65s;
                    server {
                        listen %2$d backlog=4096 reuseport;
                        listen [::]:%2$d backlog=4096 reuseport;
                        root %1$s/www;
                    }
                }
                """.formatted(w, PORT));
        for (Path p : List.of(work, root, root.resolve("index.html"), conf)) {
            Files.setPosixFilePermissions(p, PosixFilePermissions.fromString(Files.isDirectory(p) ? "rwxr-xr-x" : "rw-r--r--"));
        }
        List<String> command = new ArrayList<>();
        if (pin) {
            command.addAll(List.of("taskset", "-c", "1"));
        }
        // started through a link of its own name: "pkill -x nginx" (integration/setup.sh has one, and
        // other sessions may run it meanwhile) must not take the benchmark's server down
        Path binary = work.resolve("bench-nginx");
        if (!Files.exists(binary, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            Files.createSymbolicLink(binary, Path.of(nginxBinary()));
        }
        command.addAll(List.of(binary.toString(), "-p", w, "-e", w + "/error.log", "-c", conf.toString()));
        nginx = lab.spawn(backend.namespace(), null, command.toArray(String[]::new));
        for (int i = 0; i < 100; i++) {
            if (backend.http(backend.ip(), PORT).ok()) {
                return;
            }
            sleep(100);
        }
        throw new IllegalStateException("nginx did not answer within 10 s; " + work.resolve("error.log"));
    }

    /** One Service count: tables and maps filled, every path checked, then interleaved rounds. */
    private void measure(int count) {
        List<Service> services = services(count);
        progress(count + " Services: writing enilb maps, iptables and nftables rules");
        fillMaps(services);
        if (paths.contains(Route.IPTABLES)) {
            String iptables = KubeProxyRules.iptables(services, CLUSTER_CIDR);
            Path iptFile = write("iptables-" + count + ".rules", iptables);
            // a cold load each time, as on a node that starts kube-proxy: the previous set goes first, untimed
            nodeIptables.exec("iptables-restore", emptyTables().toString());
            loadTimes.add(loadRow(count, "iptables-restore, empty tables", iptables,
                    timed(nodeIptables, "iptables-restore", iptFile.toString())));
            if (count == serviceCounts[serviceCounts.length - 1]) {
                // kube-proxy's iptables mode rewrites the whole set like this on a full resync
                loadTimes.add(loadRow(count, "iptables-restore, replacing the same set", iptables,
                        timed(nodeIptables, "iptables-restore", iptFile.toString())));
            }
        }
        if (paths.contains(Route.NFTABLES)) {
            String nftables = KubeProxyRules.nftables(services, CLUSTER_CIDR, SERVICE_CIDR);
            Path nftFile = write("nftables-" + count + ".nft", nftables);
            nodeNftables.tryExec(600, "nft", "delete", "table", "ip", "kube-proxy");
            loadTimes.add(loadRow(count, "nft -f, no table", nftables,
                    timed(nodeNftables, "nft", "-f", nftFile.toString())));
        }

        for (Route route : paths) {
            Target t = targets.get(route);
            Lab.Result r = lab.tryExec(t.namespace(), 10, "curl", "-sS", "--max-time", "5", t.url());
            if (!r.ok() || !r.output().contains("enilb bench")) {
                throw new IllegalStateException(route.label + " does not reach nginx at " + t.url() + ": " + r.output());
            }
        }
        progress(count + " Services: warming up");
        for (boolean shortConnections : new boolean[] {true, false}) {
            for (Route route : paths) {
                Target t = targets.get(route);
                Wrk.run(lab, t.namespace(), t.url(), shortConnections, threads, connections, 1, pin ? 0 : -1);
            }
        }
        Route[] order = paths.toArray(Route[]::new);
        for (int round = 1; round <= rounds || (round <= maxRounds && spreadIsWide(count)); round++) {
            progress(count + " Services: round " + round + (round > rounds ? " (extra: wide spread)" : "/" + rounds));
            for (boolean shortConnections : new boolean[] {true, false}) {
                for (int k = 0; k < order.length; k++) {
                    // rotate the order every round so that no path always runs right after the same one
                    Route route = order[(k + round - 1) % order.length];
                    if (route == Route.SOCKET && emptyConntrackForSocket) {
                        emptyConntrack(count);
                    }
                    CpuTime.Sample before = CpuTime.sample();
                    Wrk.Outcome o = measuredRun(count, route, shortConnections);
                    double busySeconds = CpuTime.sample().busySecondsSince(before);
                    double requests = o.requestsPerSecond() * seconds;
                    runs.add(new Run(count, shortConnections, route, round, o.requestsPerSecond(), o.errors(),
                            requests > 0 ? busySeconds / requests * 1e6 : Double.NaN));
                }
            }
        }
        if (profile && count == serviceCounts[serviceCounts.length - 1]) {
            for (Route route : List.of(Route.DIRECT, Route.ENILB, Route.SOCKET)) {
                if (!paths.contains(route)) {
                    continue;
                }
                if (route == Route.SOCKET && emptyConntrackForSocket) {
                    emptyConntrack(count);
                }
                profileShortConnections(count, route);
            }
        }
        notes.add(count + " Services, enilb: conntrack map entries after the runs " + datapath.maps().conntrack().keys().size()
                + " of " + datapath.maps().conntrack().maxEntries() + " (one entry per flow and direction, kept after close: a reused client port meets its old entry)");
        for (Pod node : List.of(nodeIptables, nodeNftables)) {
            if (node == nodeIptables && !paths.contains(Route.IPTABLES) || node == nodeNftables && !paths.contains(Route.NFTABLES)) {
                continue;
            }
            notes.add(count + " Services, " + node.name() + ": conntrack entries after the runs "
                    + node.exec("cat", "/proc/sys/net/netfilter/nf_conntrack_count").strip() + ", drops "
                    + conntrackDrops(node));
        }
    }

    /** One wrk run; if nginx died meanwhile (killed from outside), starts it again and repeats the run once. */
    private Wrk.Outcome measuredRun(int count, Route route, boolean shortConnections) {
        Target t = targets.get(route);
        try {
            return Wrk.run(lab, t.namespace(), t.url(), shortConnections, threads, connections, seconds, pin ? 0 : -1);
        } catch (IllegalStateException e) {
            if (nginx == null || nginx.isAlive()) {
                throw e;
            }
            notes.add(count + " Services, " + route.key() + ", " + kind(shortConnections)
                    + ": nginx had been killed from outside; restarted it and repeated the run");
            progress("nginx was killed from outside; restarting it");
            try {
                startNginx();
            } catch (IOException io) {
                throw new UncheckedIOException(io);
            }
            return Wrk.run(lab, t.namespace(), t.url(), shortConnections, threads, connections, seconds, pin ? 0 : -1);
        }
    }

    /** The routes named in {@code spec} ("all", or keys such as "direct,enilb,socket"), with their bases, in table order. */
    private static List<Route> paths(String spec) {
        if (spec.isBlank() || spec.strip().equals("all")) {
            return List.of(Route.values());
        }
        java.util.EnumSet<Route> chosen = java.util.EnumSet.noneOf(Route.class);
        for (String key : spec.split(",")) {
            Route route = Arrays.stream(Route.values()).filter(r -> r.key().equals(key.strip())).findFirst()
                    .orElseThrow(() -> new IllegalArgumentException("enilb.bench.paths: no path " + key.strip() + " (paths: "
                            + Arrays.stream(Route.values()).map(Route::key).reduce((a, b) -> a + ", " + b).orElse("") + ")"));
            chosen.add(route);
            chosen.add(route.base());
        }
        return List.copyOf(chosen);
    }

    /** Empties enilb's conntrack map before a socket-lb run and notes the most it held then. */
    private void emptyConntrack(int count) {
        var conntrack = datapath.maps().conntrack();
        var keys = conntrack.keys();
        conntrack.deleteAll(keys);
        emptiedConntrack.merge(count, keys.size(), Math::max);
    }

    /** Whether a path's per-round ratio to direct spreads more than ±5% around its median so far. */
    private boolean spreadIsWide(int count) {
        for (boolean shortConnections : new boolean[] {true, false}) {
            for (Route route : paths) {
                double[] r = ratios(count, shortConnections, route, route.base());
                double m = median(r);
                if (r.length > 1 && (max(r) - min(r)) / m > 0.10) {
                    return true;
                }
            }
        }
        return false;
    }

    /**
     * One short-connection run of {@code route} under {@code perf record} (cpu-clock samples on
     * every CPU, call graphs; this VM has no hardware counters), reported by symbol for wrk's and
     * nginx's samples into perf-&lt;route&gt;.txt in the output directory, and by enilb's parts
     * (tc, socket hooks, socket storage: {@link PerfCosts}) per 1 000 requests into
     * perf-&lt;route&gt;-costs.txt.
     */
    private void profileShortConnections(int count, Route route) {
        progress(count + " Services: perf profile of " + route.key() + ", short connections");
        Path data = out.resolve("perf-" + route.key() + ".data");
        Process perf;
        try {
            perf = new ProcessBuilder("perf", "record", "-e", "cpu-clock", "-F", "2999", "-a", "-g", "-o", data.toString(),
                    "--", "sleep", Integer.toString(seconds + 1)).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        } catch (IOException e) {
            notes.add("perf not run (" + e.getMessage() + "): integration/setup.sh installs linux-perf");
            return;
        }
        Target t = targets.get(route);
        Wrk.Outcome o = Wrk.run(lab, t.namespace(), t.url(), true, threads, connections, seconds, pin ? 0 : -1);
        try {
            perf.waitFor();
            // only the client's and the server's samples (their system calls and the softirqs
            // that run in their context): the machine is shared, the rest is others' load
            Process report = new ProcessBuilder("perf", "report", "-i", data.toString(), "--stdio", "--no-children",
                    "--comms", "wrk,bench-nginx", "--percentage", "relative", "--sort", "sym", "-g", "none",
                    "--percent-limit", "0.7")
                    .redirectErrorStream(true)
                    .redirectOutput(out.resolve("perf-" + route.key() + ".txt").toFile()).start();
            report.waitFor();
            // and what enilb's parts cost, by call chain, against the run's requests
            Process script = new ProcessBuilder("perf", "script", "-i", data.toString(), "-F", "comm,ip,sym")
                    .redirectError(ProcessBuilder.Redirect.DISCARD).start();
            String chains = new String(script.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            script.waitFor();
            Files.writeString(out.resolve("perf-" + route.key() + "-costs.txt"),
                    PerfCosts.report(chains, o.requestsPerSecond() * seconds));
            Files.deleteIfExists(data);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        notes.add(String.format(Locale.ROOT, "%,d Services, %s, short connections under perf: %,.0f req/s; profile in perf-%s.txt,"
                        + " enilb's parts per 1 000 requests in perf-%s-costs.txt", count, route.key(), o.requestsPerSecond(),
                route.key(), route.key()));
    }

    /**
     * {@code count} Services: the measured one (10 endpoints on the backend pod) in the middle,
     * the others 198.19.0.1 ... with 10 endpoints each in 198.18.32.0 - 198.18.159.255.
     */
    public static List<Service> services(int count) {
        List<Service> list = new ArrayList<>(count);
        int endpointBase = Ipv4.parse("198.18.32.0");
        for (int i = 0; i < count - 1; i++) {
            List<Endpoint> eps = new ArrayList<>(ENDPOINTS_PER_SERVICE);
            for (int j = 0; j < ENDPOINTS_PER_SERVICE; j++) {
                eps.add(new Endpoint(endpointBase + (i * ENDPOINTS_PER_SERVICE + j) % 32768, PORT));
            }
            list.add(new Service("ns" + i / 100, "svc" + i, "http", Ipv4.parse("198.19.0.1") + i, PORT, eps));
        }
        List<Endpoint> measured = IntStream.range(0, Integer.getInteger("enilb.bench.measured-endpoints", ENDPOINTS_PER_SERVICE))
                .mapToObj(j -> new Endpoint(Ipv4.parse("198.18.0.20") + j, PORT)).toList();
        list.add(count / 2, new Service("bench", "web", "http", Ipv4.parse(MEASURED_VIP), PORT, measured));
        return list;
    }

    /**
     * Adds to enilb's maps the Services not there yet (counts only grow), in make-before-break
     * order: backends, slots, reverse NAT, then the service entries. The measured Service is id 1;
     * filler i is id i + 2.
     */
    private void fillMaps(List<Service> services) {
        Maps maps = datapath.maps();
        List<Map.Entry<Integer, BackendEntry>> backends = new ArrayList<>();
        List<Map.Entry<SlotKey, SlotValue>> slots = new ArrayList<>();
        List<Map.Entry<Integer, RevNatValue>> revNat = new ArrayList<>();
        List<Map.Entry<SvcKey, SvcValue>> entries = new ArrayList<>();
        int filler = 0;
        int fillersInMaps = Math.max(0, servicesInMaps - 1);
        for (Service svc : services) {
            boolean measured = svc.clusterIp() == Ipv4.parse(MEASURED_VIP);
            int id = measured ? 1 : filler + 2;
            if (!measured) {
                filler++;
            }
            if (measured ? servicesInMaps > 0 : filler <= fillersInMaps) {
                continue;
            }
            for (int j = 0; j < svc.endpoints().size(); j++) {
                Endpoint ep = svc.endpoints().get(j);
                int backendId = id * 16 + j;
                backends.add(Map.entry(backendId, new BackendEntry(ep.ip(), ep.port(), 0, id)));
                slots.add(Map.entry(new SlotKey(id, j), new SlotValue(backendId)));
            }
            revNat.add(Map.entry(id, new RevNatValue(svc.clusterIp(), svc.port())));
            entries.add(Map.entry(new SvcKey(svc.clusterIp(), svc.port(), 6), new SvcValue(id, svc.endpoints().size(), 0, 0)));
        }
        maps.backends().putAll(backends);
        maps.slots().putAll(slots);
        maps.revNat().putAll(revNat);
        maps.services().putAll(entries);
        fillMaps6(entries, backends);
        servicesInMaps = services.size();
    }

    /**
     * The IPv6 twin of each IPv4 frontend just written (address mirrored, see {@link #ipv6}), its
     * backends mirrored too; service ids after the IPv4 ones' (one id space), backend ids as IPv4's
     * (the IPv6 backend map is its own).
     */
    private void fillMaps6(List<Map.Entry<SvcKey, SvcValue>> entries, List<Map.Entry<Integer, BackendEntry>> backends) {
        Maps maps = datapath.maps();
        int offset = IPV6_ID_OFFSET;
        List<Map.Entry<Integer, BackendEntry6>> backends6 = backends.stream().map(b -> Map.entry(b.getKey(),
                new BackendEntry6(Ipv6.parse(ipv6(POD_NET6, b.getValue().addr())), b.getValue().port(), 0,
                        b.getValue().svcId() + offset))).toList();
        List<Map.Entry<SlotKey, SlotValue>> slots6 = backends.stream().map(b -> Map.entry(
                new SlotKey(b.getValue().svcId() + offset, b.getKey() % 16), new SlotValue(b.getKey()))).toList();
        List<Map.Entry<SvcKey6, SvcValue>> entries6 = entries.stream().map(e -> Map.entry(
                new SvcKey6(Ipv6.parse(ipv6(SERVICE_NET6, e.getKey().addr())), e.getKey().port(), e.getKey().proto()),
                new SvcValue(e.getValue().svcId() + offset, e.getValue().active(), 0, 0))).toList();
        maps.backends6().putAll(backends6);
        maps.slots6().putAll(slots6);
        maps.services6().putAll(entries6);
    }

    /** IPv6 service ids: after the IPv4 ones (at most 10 001 here), below the stats array's size. */
    private static final int IPV6_ID_OFFSET = 20_000;

    /** {@code net} with the low 16 bits of the IPv4 address {@code v4}: 198.18.0.20 -> 2001:db8:18::14. */
    static String ipv6(Ipv6 net, int v4) {
        return new Ipv6(net.hi(), net.lo() + (v4 & 0xffff)).toString();
    }

    private double timed(Pod node, String... command) {
        long start = System.nanoTime();
        Lab.Result r = node.tryExec(600, command);
        double s = (System.nanoTime() - start) / 1e9;
        if (!r.ok()) {
            throw new IllegalStateException(String.join(" ", command) + " in " + node.name() + " failed: "
                    + r.output().lines().limit(5).toList());
        }
        return s;
    }

    private static String loadRow(int count, String tool, String rules, double seconds) {
        return String.format(Locale.ROOT, "| %,d | %s | %,d | %.2f |", count, tool, rules.lines().count(), seconds);
    }

    /** An iptables-restore input that empties the filter and nat tables. */
    private Path emptyTables() {
        return write("iptables-empty.rules", "*filter\nCOMMIT\n*nat\nCOMMIT\n");
    }

    /** Sum of the drop, early_drop and insert_failed columns of the namespace's conntrack statistics. */
    private static long conntrackDrops(Pod node) {
        List<String> lines = node.exec("cat", "/proc/net/stat/nf_conntrack").lines().toList();
        List<String> header = Arrays.asList(lines.get(0).trim().split("\\s+"));
        long sum = 0;
        for (String line : lines.subList(1, lines.size())) {
            String[] cols = line.trim().split("\\s+");
            for (String col : List.of("drop", "early_drop", "insert_failed")) {
                int i = header.indexOf(col);
                if (i >= 0 && i < cols.length) {
                    sum += Long.parseLong(cols[i], 16);
                }
            }
        }
        return sum;
    }

    /** The markdown report: requests/s by path, the goals, the rule load times, notes. */
    String tables() {
        StringBuilder t = new StringBuilder();
        t.append(String.format(Locale.ROOT, "%n### Requests/s (wrk -t%d -c%d -d%ds, %d interleaved rounds, %s)%n%n",
                threads, connections, seconds, rounds, pin ? "wrk on CPU 0, nginx on CPU 1" : "not pinned"));
        t.append("| Services | connections | path | req/s median | min – max | × direct (IPv6: × direct IPv6), median (min – max) "
                + "| CPU µs/request, median (min – max) | CPU × direct | errors |\n");
        t.append("|---:|---|---|---:|---:|---:|---:|---:|---:|\n");
        for (int count : serviceCounts) {
            for (boolean shortConnections : new boolean[] {true, false}) {
                for (Route route : paths) {
                    double[] rps = select(count, shortConnections, route).mapToDouble(Run::rps).toArray();
                    double[] ratio = ratios(count, shortConnections, route, route.base());
                    long errors = select(count, shortConnections, route).mapToLong(Run::errors).sum();
                    double[] cpu = select(count, shortConnections, route).mapToDouble(Run::cpuUsPerRequest).toArray();
                    double[] cpuRatio = cpuRatios(count, shortConnections, route, route.base());
                    t.append(String.format(Locale.ROOT, "| %,d | %s | %s | %,.0f | %,.0f – %,.0f | %.2f (%.2f – %.2f) "
                                    + "| %.1f (%.1f – %.1f) | %.3f | %d |%n",
                            count, kind(shortConnections), route.label, median(rps), min(rps), max(rps),
                            median(ratio), min(ratio), max(ratio), median(cpu), min(cpu), max(cpu), median(cpuRatio),
                            errors));
                }
            }
        }
        t.append("\nCPU µs/request: busy time of the whole machine (/proc/stat, all CPUs, other processes "
                + "included) over the run, divided by the requests; CPU × direct: median of the same-round ratios.\n");
        t.append("\n### Goals (ratios of runs in the same round, median (min – max))\n\n");
        t.append("| Services | connections | enilb tc ÷ direct (goal ≥ 0.95) | enilb tc ÷ iptables | enilb tc ÷ nftables "
                + "| socket-lb ÷ direct (goal ≥ 0.98) | socket-lb CPU ÷ direct (goal ≤ 1.03) | enilb tc IPv6 ÷ direct IPv6 (goal ≥ 0.95) "
                + "| enilb tc IPv6 CPU ÷ direct IPv6 |\n");
        t.append("|---:|---|---:|---:|---:|---:|---:|---:|---:|\n");
        int largest = serviceCounts[serviceCounts.length - 1];
        for (int count : serviceCounts) {
            for (boolean shortConnections : new boolean[] {true, false}) {
                double[] direct = ratios(count, shortConnections, Route.ENILB, Route.DIRECT);
                double[] ipt = ratios(count, shortConnections, Route.ENILB, Route.IPTABLES);
                double[] nft = ratios(count, shortConnections, Route.ENILB, Route.NFTABLES);
                double[] socket = ratios(count, shortConnections, Route.SOCKET, Route.DIRECT);
                double[] socketCpu = cpuRatios(count, shortConnections, Route.SOCKET, Route.DIRECT);
                double[] direct6 = ratios(count, shortConnections, Route.ENILB6, Route.DIRECT6);
                double[] cpu6 = cpuRatios(count, shortConnections, Route.ENILB6, Route.DIRECT6);
                boolean goal = count == largest && shortConnections;
                t.append(String.format(Locale.ROOT, "| %,d | %s | %s | %s | %s | %s | %s | %s | %s |%n", count, kind(shortConnections),
                        goalCell(direct, 0.95), goal && ipt.length > 0 ? goalCell(ipt, 1.5) + " (goal ≥ 1.5)" : cell(ipt),
                        goal && nft.length > 0 ? goalCell(nft, 1.2) + " (goal ≥ 1.2)" : cell(nft), goalCell(socket, 0.98),
                        ceilingCell(socketCpu, 1.03), goalCell(direct6, 0.95), cell(cpu6)));
            }
        }
        t.append("\n### Loading the kube-proxy rule sets (wall time of the command in the node namespace)\n\n");
        t.append("| Services | command | lines | seconds |\n|---:|---|---:|---|\n");
        loadTimes.forEach(l -> t.append(l).append('\n'));
        t.append("\n### Notes\n\n");
        Maps maps = datapath.maps();
        t.append("- enilb drops: ").append(Arrays.stream(Maps.DropReason.values())
                .map(r -> r.name().toLowerCase(Locale.ROOT) + " " + maps.dropped(r)).reduce((a, b) -> a + ", " + b).orElse(""))
                .append('\n');
        notes.forEach(n -> t.append("- ").append(n).append('\n'));
        t.append("- enilb's tc programs on the pods: ").append(datapath.tcAttachInEffect().value)
                .append(" (enilb.bench.tc-attach=").append(tcAttach.value).append(")\n");
        if (!socketPodTc) {
            t.append("- socket-lb pod without the tc programs (enilb.bench.socket-tc=false): the socket hooks' cost alone\n");
        }
        emptiedConntrack.forEach((count, most) -> t.append(String.format(Locale.ROOT, "- %,d Services: enilb's conntrack map "
                + "emptied before each socket-lb run (it held up to %,d entries the tc runs left; "
                + "enilb.bench.socket-conntrack=kept keeps them)%n", count, most)));
        return t.toString();
    }

    private static String kind(boolean shortConnections) {
        return shortConnections ? "short" : "keep-alive";
    }

    /** The median and range of same-round ratios; a dash for a path not measured. */
    private static String cell(double[] r) {
        if (r.length == 0) {
            return "—";
        }
        return String.format(Locale.ROOT, "%.2f (%.2f – %.2f)", median(r), min(r), max(r));
    }

    private static String goalCell(double[] r, double goal) {
        return r.length == 0 ? cell(r) : cell(r) + (median(r) >= goal ? " met" : " **missed**");
    }

    private static String ceilingCell(double[] r, double ceiling) {
        return r.length == 0 ? cell(r) : cell(r) + (median(r) <= ceiling ? " met" : " **missed**");
    }

    private Stream<Run> select(int count, boolean shortConnections, Route route) {
        return runs.stream().filter(r -> r.services() == count && r.shortConnections() == shortConnections && r.route() == route)
                .sorted(Comparator.comparingInt(Run::round));
    }

    /** Per round, route's rate over base's rate. */
    private double[] ratios(int count, boolean shortConnections, Route route, Route base) {
        double[] a = select(count, shortConnections, route).mapToDouble(Run::rps).toArray();
        double[] b = select(count, shortConnections, base).mapToDouble(Run::rps).toArray();
        return IntStream.range(0, Math.min(a.length, b.length)).mapToDouble(i -> a[i] / b[i]).toArray();
    }

    /** Per round, route's CPU time per request over base's. */
    private double[] cpuRatios(int count, boolean shortConnections, Route route, Route base) {
        double[] a = select(count, shortConnections, route).mapToDouble(Run::cpuUsPerRequest).toArray();
        double[] b = select(count, shortConnections, base).mapToDouble(Run::cpuUsPerRequest).toArray();
        return IntStream.range(0, Math.min(a.length, b.length)).mapToDouble(i -> a[i] / b[i]).toArray();
    }

    private void writeCsv() throws IOException {
        StringBuilder csv = new StringBuilder("services,connections,path,round,rps,errors,cpu_us_per_request\n");
        for (Run r : runs) {
            csv.append(String.format(Locale.ROOT, "%d,%s,%s,%d,%.1f,%d,%.2f%n", r.services(), kind(r.shortConnections()),
                    r.route().key(), r.round(), r.rps(), r.errors(), r.cpuUsPerRequest()));
        }
        Files.writeString(out.resolve("runs.csv"), csv);
    }

    private Path write(String name, String text) {
        try {
            Path file = work.resolve(name);
            Files.writeString(file, text);
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Namespaces and processes (nginx) through the lab, then the pins and the work directory; safe twice. */
    private synchronized void cleanUp() {
        if (nginx != null && nginx.isAlive()) {
            // TERM to the master first, which stops its worker: killing the worker first (as a
            // plain kill of the process tree does) lets the master fork a new one, orphaned when
            // the master dies next
            nginx.destroy();
            try {
                nginx.waitFor(5, java.util.concurrent.TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (lab != null) {
            lab.close();
            lab = null;
        }
        if (datapath != null) {
            datapath.detachSocketHooks();
            datapath.close();
            datapath = null;
        }
        try {
            BpfObject.unpinAll(pins);
        } catch (RuntimeException e) {
            System.err.println("bench: could not remove pins " + pins + ": " + e.getMessage());
        }
        if (work != null) {
            try (Stream<Path> files = Files.walk(work)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            } catch (IOException e) {
                System.err.println("bench: could not remove " + work + ": " + e.getMessage());
            }
            work = null;
        }
    }

    static double median(double[] v) {
        if (v.length == 0) {
            return Double.NaN;
        }
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    private static double min(double[] v) {
        return Arrays.stream(v).min().orElse(Double.NaN);
    }

    private static double max(double[] v) {
        return Arrays.stream(v).max().orElse(Double.NaN);
    }

    private static int[] ints(String csv) {
        return Arrays.stream(csv.split(",")).map(String::trim).mapToInt(Integer::parseInt).toArray();
    }

    private static void progress(String message) {
        System.err.printf("bench %tT %s%n", System.currentTimeMillis(), message);
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }
}
