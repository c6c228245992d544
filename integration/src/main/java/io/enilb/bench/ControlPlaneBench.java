package io.enilb.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.enilb.bpf.Datapath;
import io.enilb.bpf.Ipv4;
import io.enilb.bpf.Maps;
import io.enilb.bpf.Structs.BackendEntry;
import io.enilb.bpf.Structs.SlotKey;
import io.enilb.bpf.Structs.SlotValue;
import io.enilb.bpf.Structs.SvcKey;
import io.enilb.bpf.Structs.SvcValue;
import io.enilb.lab.DaemonProcess;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.Endpoint;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;

/**
 * The control plane at scale, end to end: fabric8's CRUD mock API server holds 10 000 Services
 * ({@code -Dbench.services}) with 10 endpoints each; the real enilbd (kubernetes source, the
 * launcher's own JVM flags, map sizes configured for the count) watches it and programs pinned
 * kernel maps. Reports cold sync (informers synced to maps complete, from the daemon's log),
 * change-to-map latency under a background churn of 100 endpoint changes/s for
 * {@code -Dbench.churn-seconds} (default 180) while {@code /metrics} is scraped every second (in
 * the daemon from its histogram, and end to end from the update request to the kernel map holding
 * the new backend, read by polling the pinned maps), and the daemon's RSS after sync and after the
 * churn. A figure, not a test.
 *
 * <p>Run as root after a build ({@code mvn -B package -pl integration -am -DskipTests}), with the
 * integration module's classpath: {@code java -cp ... io.enilb.bench.ControlPlaneBench}.
 * {@code -Dbench.java-opts="A;B"} runs one daemon per variant against the same API server (a
 * variant's words: JVM options, {@code NAME=value} for the launcher's environment, {@code dist=DIR}
 * for another build, {@code mock=replay} for fabric8's watches that replay every stored object,
 * see {@link IndexedCrudDispatcher#handleWatch}); {@code -Dbench.gc-log=true} reports the
 * collector's pauses during sync and churn ({@code -Xlog:gc}), {@code -Dbench.jfr-churn=FILE}
 * records the churn with JFR.
 * {@code -Dbench.objects=rich} gives the objects what an API server sends besides what enilb
 * reads (managedFields, annotations, owner references, each endpoint's target reference, zone and
 * hints, a status); by default they hold little more than what enilb reads.
 */
public final class ControlPlaneBench {
    private static final int SERVICES = Integer.getInteger("bench.services", 10_000);
    private static final int ENDPOINTS = Integer.getInteger("bench.endpoints", 10);
    private static final int CHURN_PER_SECOND = 100;
    private static final int PROBES = Integer.getInteger("bench.probes", 200);
    private static final int CHURN_SECONDS = Integer.getInteger("bench.churn-seconds", 180);
    private static final boolean RICH = "rich".equals(System.getProperty("bench.objects"));
    /** Held strongly: java.util.logging forgets the level of a logger nobody references. */
    private static final java.util.logging.Logger MOCK_LOG = java.util.logging.Logger.getLogger("io.fabric8.mockwebserver");
    private static final Pattern LOG_TIME = Pattern.compile("^(\\S+Z) ");

    public static void main(String[] args) throws Exception {
        if ("file".equals(System.getProperty("bench.source"))) {
            fileSourceSync();
            return;
        }
        // the mock server logs every request; 20 000 creations would drown the figures
        MOCK_LOG.setLevel(java.util.logging.Level.WARNING);
        IndexedCrudDispatcher store = new IndexedCrudDispatcher();
        KubernetesMockServer server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(),
                store, false);
        server.init(java.net.InetAddress.getLoopbackAddress(), 0);
        Path kubeconfig = Files.createTempFile("enilb-bench-kubeconfig", ".yaml");
        Files.writeString(kubeconfig, "apiVersion: v1\nkind: Config\nclusters:\n- name: mock\n  cluster:\n"
                + "    server: http://127.0.0.1:" + server.getPort() + "\ncontexts:\n- name: mock\n  context:\n"
                + "    cluster: mock\n    user: bench\ncurrent-context: mock\nusers:\n- name: bench\n  user: {}\n");
        try (KubernetesClient client = server.createClient()) {
            long t0 = System.nanoTime();
            populate(store);
            System.out.printf("API server populated with %,d Services x %d endpoints in %.1f s%n", SERVICES, ENDPOINTS,
                    (System.nanoTime() - t0) / 1e9);
            // -Dbench.java-opts="A;B": one daemon run per variant of JAVA_OPTS (added to the launcher's
            // flags) against the same API server, for same-run comparisons; default: the launcher's flags alone
            int variants = 0;
            for (String variant : System.getProperty("bench.java-opts", "").split(";", -1)) {
                // a variant's NAME=value words are the launcher's environment (ENILB_HEAP_MAX=1g), dist=DIR another
                // distribution (a build from before a change), the rest JAVA_OPTS
                Map<String, String> env = new HashMap<>();
                Path dist = DaemonProcess.distribution();
                StringBuilder javaOpts = new StringBuilder();
                store.replayWholeStore(false);
                for (String word : variant.trim().split("\\s+")) {
                    if (word.equals("mock=replay")) {
                        store.replayWholeStore(true);
                    } else if (word.startsWith("dist=")) {
                        dist = Path.of(word.substring("dist=".length()));
                    } else if (word.matches("[A-Z_]+=.*")) {
                        env.put(word.substring(0, word.indexOf('=')), word.substring(word.indexOf('=') + 1));
                    } else if (!word.isEmpty()) {
                        javaOpts.append(' ').append(word);
                    }
                }
                if (Boolean.getBoolean("bench.nmt")) {
                    javaOpts.append(" -XX:NativeMemoryTracking=summary");
                }
                Path gcLog = Files.createTempFile("enilb-bench-gc", ".log");
                if (Boolean.getBoolean("bench.gc-log")) {
                    javaOpts.append(" -Xlog:gc:file=").append(gcLog).append(":utc");
                }
                String opts = javaOpts.toString().trim();
                if (!opts.isEmpty()) {
                    env.put("JAVA_OPTS", opts);
                }
                System.out.printf("%n--- the launcher's JVM flags%s%n", variant.isBlank() ? "" : " + " + variant.trim());
                try (DaemonProcess daemon = new DaemonProcess(dist, env)) {
                    daemon.writeConfig("kubernetes: {kubeconfig: " + kubeconfig + "}\n");
                    Files.writeString(daemon.configFile(), Files.readString(daemon.configFile())
                            .replace("source: file", "source: kubernetes")
                            .replace("max-services: 4096, max-backends: 16384", "max-services: " + mapSize(SERVICES)
                                    + ", max-backends: " + mapSize(SERVICES * ENDPOINTS)));
                    long started = System.nanoTime();
                    CpuSampler cpu = new CpuSampler(daemon);
                    cpu.start();
                    daemon.startAndAwaitReady(Duration.ofMinutes(5));
                    System.out.printf("daemon start -> ready (JVM start, datapath load, list, maps): %d ms%n",
                            (System.nanoTime() - started) / 1_000_000);
                    String log = daemon.logText();
                    Instant synced = timeOf(log, "source kubernetes: synced");
                    Instant inSync = timeOf(log, "nat-map in sync");
                    long rssSynced = rssKiB(daemon.process().pid());
                    // let the sampler pass the in-sync line before reading it
                    java.util.concurrent.locks.LockSupport.parkNanos(200_000_000L);
                    System.out.printf("cold sync: informers synced -> maps complete: %d ms wall, %d ms of the daemon's CPU;"
                                    + " start -> maps complete: %d ms of its CPU (%s)%n",
                            Duration.between(synced, inSync).toMillis(), cpu.millisBetween(synced, inSync),
                            cpu.millisUntil(inSync), line(log, "nat-map in sync"));
                    // the whole sync starts at the first list request: the pages, then (both listings done) catalog and maps
                    Instant listing = timeOf(log, "kubernetes source: watching");
                    System.out.printf("sync, first list request -> maps complete (pages parsed, catalog, maps): %d ms wall,"
                                    + " %d ms of the daemon's CPU%n", Duration.between(listing, inSync).toMillis(),
                            cpu.millisBetween(listing, inSync));
                    cpu.interrupt();
                    System.out.printf("daemon RSS after sync: %.1f MiB%n", rssSynced / 1024.0);
                    // the daemon collects once after the initial sync and gives back what the listing took
                    java.util.concurrent.locks.LockSupport.parkNanos(5_000_000_000L);
                    System.out.printf("daemon RSS 5 s later: %.1f MiB (%s)%n", rssKiB(daemon.process().pid()) / 1024.0,
                            line(daemon.logText(), "heap after the initial sync"));
                    String jfr = System.getProperty("bench.jfr");
                    if (jfr != null) {
                        // started with -XX:StartFlightRecording in bench.java-opts: what the daemon did until now
                        jcmd(daemon, "JFR.dump", "filename=" + jfr);
                    }
                    if (Boolean.getBoolean("bench.threads")) {
                        System.out.println("the daemon's threads by CPU time until now:\n" + threadTimes(daemon.process().pid()));
                    }
                    if (Boolean.getBoolean("bench.nmt")) {
                        Process jcmd = new ProcessBuilder("jcmd", Long.toString(daemon.process().pid()), "VM.native_memory",
                                "summary").redirectErrorStream(true).start();
                        System.out.println(new String(jcmd.getInputStream().readAllBytes()));
                        System.out.println(new String(new ProcessBuilder("sh", "-c", "jcmd " + daemon.process().pid()
                                + " GC.class_histogram | head -30").redirectErrorStream(true).start().getInputStream().readAllBytes()));
                    }
                    Map<Double, Long> before = syncLatencyBuckets(daemon);
                    List<Long> latencies;
                    List<Long> scrapes = new java.util.concurrent.CopyOnWriteArrayList<>();
                    AtomicBoolean scraping = new AtomicBoolean(true);
                    // the daemon's RSS at each minute of the churn: whether it settles or keeps growing
                    List<String> rssByMinute = new java.util.concurrent.CopyOnWriteArrayList<>();
                    Thread scraper = new Thread(() -> {
                        long scrapingSince = System.nanoTime();
                        while (scraping.get()) {
                            long t = System.nanoTime();
                            daemon.get("/metrics");
                            scrapes.add(System.nanoTime() - t);
                            if ((t - scrapingSince) / 60_000_000_000L >= rssByMinute.size() + 1) {
                                rssByMinute.add(String.format("%.1f", rssKiB(daemon.process().pid()) / 1024.0));
                            }
                            java.util.concurrent.locks.LockSupport.parkNanos(1_000_000_000L);
                        }
                    }, "scraper");
                    scraper.start();
                    String churnJfr = System.getProperty("bench.jfr-churn");
                    if (churnJfr != null) {
                        jcmd(daemon, "JFR.start", "name=churn", "settings=profile");
                    }
                    Instant churnStart = Instant.now();
                    try {
                        latencies = churnAndProbe(client, daemon.pinRoot());
                    } finally {
                        scraping.set(false);
                        scraper.join();
                    }
                    Instant churnEnd = Instant.now();
                    if (churnJfr != null) {
                        jcmd(daemon, "JFR.dump", "name=churn", "filename=" + churnJfr.replace(".jfr", "-" + (++variants) + ".jfr"));
                        jcmd(daemon, "JFR.stop", "name=churn");
                    }
                    Map<Double, Long> after = syncLatencyBuckets(daemon);
                    List<Long> scrapeTimes = new ArrayList<>(scrapes);
                    Collections.sort(scrapeTimes);
                    System.out.printf("a /metrics scrape every second during the churn: %d scrapes, p50 %.1f ms, max %.1f ms%n",
                            scrapeTimes.size(), pct(scrapeTimes, 50), scrapeTimes.get(scrapeTimes.size() - 1) / 1e6);
                    System.out.printf("in the daemon, change reaching nat-map -> batch in the kernel maps (enilb_sync_latency_seconds,"
                            + " %d batches during the churn): p50 <= %s ms, p99 <= %s ms%n", (long) (after.get(Double.POSITIVE_INFINITY)
                            - before.getOrDefault(Double.POSITIVE_INFINITY, 0L)), bucketPct(before, after, 0.50),
                            bucketPct(before, after, 0.99));
                    Collections.sort(latencies);
                    if (!latencies.isEmpty()) {
                        System.out.printf("end to end, update request sent -> kernel map holds it (mock API server included): "
                                + "p50 %.2f ms, p99 %.2f ms, max %.2f ms (%d probes)%n", pct(latencies, 50), pct(latencies, 99),
                                latencies.get(latencies.size() - 1) / 1e6, latencies.size());
                    }
                    System.out.printf("daemon RSS after churn: %.1f MiB%n", rssKiB(daemon.process().pid()) / 1024.0);
                    if (!rssByMinute.isEmpty()) {
                        System.out.println("daemon RSS at each minute of the churn, MiB: " + String.join(" ", rssByMinute));
                    }
                    if (Boolean.getBoolean("bench.gc-log")) {
                        System.out.println("collections (-Xlog:gc), start -> maps complete: " + pauses(gcLog, Instant.EPOCH, inSync));
                        System.out.println("collections (-Xlog:gc), during the churn: " + pauses(gcLog, churnStart, churnEnd));
                    }
                    String keepLog = System.getProperty("bench.daemon-log");
                    if (keepLog != null) {
                        Files.copy(daemon.log(), Path.of(keepLog), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                    }
                    daemon.terminate();
                } finally {
                    Files.deleteIfExists(gcLog);
                    // -Xlog moves the (empty) file it found aside before writing its own
                    Files.deleteIfExists(Path.of(gcLog + ".0"));
                }
            }
        } finally {
            server.destroy();
            Files.deleteIfExists(kubeconfig);
        }
    }

    /**
     * The daemon's CPU time (user + system, from /proc) sampled every 10 ms against wall-clock
     * time, so that an interval found in its log can be priced in CPU: on a shared machine the
     * wall-clock time says more about the neighbours than about the daemon.
     */
    private static final class CpuSampler extends Thread {
        private final DaemonProcess daemon;
        private final java.util.concurrent.ConcurrentSkipListMap<Long, Long> ticksAt =
                new java.util.concurrent.ConcurrentSkipListMap<>();

        CpuSampler(DaemonProcess daemon) {
            super("cpu-sampler");
            setDaemon(true);
            this.daemon = daemon;
        }

        @Override
        public void run() {
            while (!isInterrupted()) {
                Process p = daemon.process();
                if (p != null) {
                    try {
                        ticksAt.put(System.currentTimeMillis(), cpuTicks(Path.of("/proc/" + p.pid() + "/stat")));
                    } catch (java.io.IOException | RuntimeException gone) {
                        return;
                    }
                }
                try {
                    Thread.sleep(10);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }

        private long ticks(Instant at) {
            Map.Entry<Long, Long> e = ticksAt.floorEntry(at.toEpochMilli());
            return e == null ? 0 : e.getValue();
        }

        /** CPU milliseconds (at the kernel's 100 Hz tick) the daemon spent between two instants. */
        long millisBetween(Instant from, Instant to) {
            return (ticks(to) - ticks(from)) * 10;
        }

        long millisUntil(Instant to) {
            return ticks(to) * 10;
        }
    }

    /**
     * {@code -Dbench.source=file}: the same Services and slices as YAML files for the file source
     * (the way 50 000 Services were measured before the mock API server could be filled in
     * seconds, see {@link IndexedCrudDispatcher}). Measures the sync (directory read -> maps
     * complete), the daemon's CPU for it, RSS, and a scrape.
     */
    private static void fileSourceSync() throws Exception {
        io.fabric8.kubernetes.client.utils.KubernetesSerialization yaml =
                new io.fabric8.kubernetes.client.utils.KubernetesSerialization();
        try (DaemonProcess daemon = new DaemonProcess(DaemonProcess.distribution(), Map.of())) {
            Files.writeString(daemon.configFile(), Files.readString(daemon.configFile())
                    .replace("max-services: 4096, max-backends: 16384", "max-services: " + mapSize(SERVICES)
                            + ", max-backends: " + mapSize(SERVICES * ENDPOINTS)));
            int perFile = 1000;
            for (int first = 0; first < SERVICES; first += perFile) {
                StringBuilder text = new StringBuilder();
                for (int i = first; i < Math.min(SERVICES, first + perFile); i++) {
                    text.append(yaml.asYaml(service(i))).append(yaml.asYaml(slice(i, endpoints(i, 0))));
                }
                daemon.putServices("services-" + first + ".yaml", text.toString());
            }
            System.out.printf("%,d Services x %d endpoints written as YAML for the file source%n", SERVICES, ENDPOINTS);
            CpuSampler cpu = new CpuSampler(daemon);
            cpu.start();
            long started = System.nanoTime();
            daemon.startAndAwaitReady(Duration.ofMinutes(10));
            System.out.printf("daemon start -> ready: %d ms%n", (System.nanoTime() - started) / 1_000_000);
            java.util.concurrent.locks.LockSupport.parkNanos(200_000_000L);
            String log = daemon.logText();
            Instant synced = timeOf(log, "source file: synced");
            Instant inSync = timeOf(log, "nat-map in sync");
            System.out.printf("sync: source synced -> maps complete: %d ms wall, %d ms of the daemon's CPU; start -> maps"
                            + " complete: %d ms of its CPU (%s)%n", Duration.between(synced, inSync).toMillis(),
                    cpu.millisBetween(synced, inSync), cpu.millisUntil(inSync), line(log, "nat-map in sync"));
            System.out.printf("daemon RSS after sync: %.1f MiB (%s)%n", rssKiB(daemon.process().pid()) / 1024.0,
                    line(log, "heap after the initial sync"));
            long t = System.nanoTime();
            int status = daemon.get("/metrics").status();
            System.out.printf("a /metrics scrape: %d in %.1f ms%n", status, (System.nanoTime() - t) / 1e6);
            java.util.concurrent.locks.LockSupport.parkNanos(30_000_000_000L);
            System.out.printf("daemon RSS 30 s later: %.1f MiB%n", rssKiB(daemon.process().pid()) / 1024.0);
            cpu.interrupt();
            daemon.terminate();
        }
    }

    /** Room for {@code entries} with a quarter to spare, as an operator would size the maps. */
    private static int mapSize(int entries) {
        return Integer.highestOneBit(entries + entries / 4 - 1) << 1;
    }

    private static String name(int i) {
        return "svc-" + i;
    }

    private static String clusterIp(int i) {
        return Ipv4.format(Ipv4.parse("198.19.0.0") + 1 + i);
    }

    private static Service service(int i) {
        Service service = new ServiceBuilder().withNewMetadata().withName(name(i)).withNamespace("bench").endMetadata()
                .withNewSpec().withType("ClusterIP").withClusterIP(clusterIp(i))
                .addNewPort().withName("http").withProtocol("TCP").withPort(80).withTargetPort(new IntOrString(8080)).endPort()
                .endSpec().build();
        if (!RICH) {
            return service;
        }
        return new ServiceBuilder(service).editMetadata()
                .addToLabels("app", name(i)).addToLabels("app.kubernetes.io/part-of", "bench")
                .addToAnnotations("kubectl.kubernetes.io/last-applied-configuration", "{\"apiVersion\":\"v1\",\"kind\":"
                        + "\"Service\",\"metadata\":{\"name\":\"" + name(i) + "\",\"namespace\":\"bench\"},\"spec\":{\"ports\":"
                        + "[{\"name\":\"http\",\"port\":80,\"targetPort\":8080}],\"selector\":{\"app\":\"" + name(i) + "\"}}}\n")
                .withManagedFields(managedFields("kubectl-client-side-apply", "f:spec", "f:ports", "f:selector",
                        "f:sessionAffinity", "f:type"))
                .endMetadata()
                .editSpec().addToSelector("app", name(i)).withSessionAffinity("None").withIpFamilies("IPv4")
                .withIpFamilyPolicy("SingleStack").withClusterIPs(clusterIp(i)).withInternalTrafficPolicy("Cluster")
                .endSpec()
                .withNewStatus().withNewLoadBalancer().endLoadBalancer().endStatus().build();
    }

    /** What an API server records of who wrote which fields (server-side apply's bookkeeping). */
    private static List<io.fabric8.kubernetes.api.model.ManagedFieldsEntry> managedFields(String manager,
                                                                                          String... fields) {
        io.fabric8.kubernetes.api.model.FieldsV1 written = new io.fabric8.kubernetes.api.model.FieldsV1();
        Map<String, Object> inner = new java.util.LinkedHashMap<>();
        inner.put(".", Map.of());
        for (String f : java.util.Arrays.copyOfRange(fields, 1, fields.length)) {
            inner.put(f, Map.of(".", Map.of(), "f:name", Map.of(), "f:port", Map.of(), "f:protocol", Map.of()));
        }
        written.setAdditionalProperty(fields[0], inner);
        written.setAdditionalProperty("f:metadata", Map.of("f:labels", Map.of(".", Map.of(), "f:app", Map.of()),
                "f:annotations", Map.of(".", Map.of())));
        return List.of(new io.fabric8.kubernetes.api.model.ManagedFieldsEntryBuilder().withManager(manager)
                .withOperation("Update").withApiVersion("v1").withTime("2026-11-02T10:11:12Z")
                .withFieldsType("FieldsV1").withFieldsV1(written).build());
    }

    private static EndpointSlice slice(int i, List<String> ips) {
        List<Endpoint> eps = new ArrayList<>();
        int n = 0;
        for (String ip : ips) {
            EndpointBuilder endpoint = new EndpointBuilder().withAddresses(ip).withNewConditions().withReady(true)
                    .withServing(true).withTerminating(false).endConditions();
            if (RICH) {
                endpoint.withNodeName("node-" + (n % 5)).withZone("zone-" + (n % 3))
                        .withNewTargetRef().withKind("Pod").withNamespace("bench").withName(name(i) + "-7d9c5b-" + n)
                        .withUid(java.util.UUID.nameUUIDFromBytes((ip + n).getBytes()).toString()).endTargetRef()
                        .withNewHints().addNewForZone("zone-" + (n % 3)).endHints();
            }
            eps.add(endpoint.build());
            n++;
        }
        EndpointSlice slice = new EndpointSliceBuilder().withNewMetadata().withName(name(i) + "-1").withNamespace("bench")
                .addToLabels("kubernetes.io/service-name", name(i)).endMetadata()
                .withAddressType("IPv4").addNewPort().withName("http").withProtocol("TCP").withPort(8080).endPort()
                .withEndpoints(eps).build();
        if (!RICH) {
            return slice;
        }
        return new EndpointSliceBuilder(slice).editMetadata()
                .addToLabels("endpointslice.kubernetes.io/managed-by", "endpointslice-controller.k8s.io")
                .addToLabels("app", name(i))
                .addToAnnotations("endpoints.kubernetes.io/last-change-trigger-time", "2026-11-02T10:11:12Z")
                .addNewOwnerReference().withApiVersion("v1").withKind("Service").withName(name(i))
                .withUid(java.util.UUID.nameUUIDFromBytes(name(i).getBytes()).toString()).withController(true)
                .withBlockOwnerDeletion(true).endOwnerReference()
                .withManagedFields(managedFields("endpointslice-controller", "f:endpoints", "f:ports"))
                .endMetadata().build();
    }

    private static List<String> endpoints(int i, int generation) {
        List<String> ips = new ArrayList<>(ENDPOINTS);
        for (int e = 0; e < ENDPOINTS; e++) {
            ips.add(Ipv4.format(Ipv4.parse("198.18.0.0") + ((i * ENDPOINTS + e + generation * 7) % 65000) + 1));
        }
        return ips;
    }

    /** Straight into the mock API server's store, as its creates would (see {@link IndexedCrudDispatcher}). */
    private static void populate(IndexedCrudDispatcher store) {
        for (int i = 0; i < SERVICES; i++) {
            store.store("/api/v1/namespaces/bench/services", service(i));
            store.store("/apis/discovery.k8s.io/v1/namespaces/bench/endpointslices", slice(i, endpoints(i, 0)));
        }
    }

    /** Background churn on random Services; probes on Service 0 timed until the kernel map shows them. */
    private static List<Long> churnAndProbe(KubernetesClient client, Path pinRoot) throws Exception {
        AtomicBoolean running = new AtomicBoolean(true);
        AtomicInteger churned = new AtomicInteger();
        // an update is a round trip to the mock API server in this JVM (2 - 50 ms): several writers keep up 100 changes/s
        int writers = 8;
        List<Thread> churners = new ArrayList<>();
        for (int w = 0; w < writers; w++) {
            int seed = w;
            churners.add(new Thread(() -> {
                Random rnd = new Random(seed);
                long next = System.nanoTime();
                while (running.get()) {
                    // each writer its own Services (never two updates of one slice at once); not Service 0, the probe's
                    int i = seed + writers * rnd.nextInt((SERVICES - 1 - seed) / writers + 1);
                    if (i == 0 || i >= SERVICES) {
                        continue;
                    }
                    try {
                        client.discovery().v1().endpointSlices().inNamespace("bench")
                                .resource(slice(i, endpoints(i, 1 + rnd.nextInt(1000)))).update();
                        churned.incrementAndGet();
                    } catch (RuntimeException e) {
                        System.out.println("churn update failed: " + e.getMessage());
                    }
                    next += 1_000_000_000L * writers / CHURN_PER_SECOND;
                    long wait = next - System.nanoTime();
                    if (wait > 0) {
                        java.util.concurrent.locks.LockSupport.parkNanos(wait);
                    }
                }
            }, "churn-" + w));
        }
        long churnStarted = System.nanoTime();
        churners.forEach(Thread::start);
        List<Long> latencies = new ArrayList<>();
        List<Long> apiNanos = new ArrayList<>();
        try (Datapath view = Datapath.load(Path.of(System.getProperty("enilb.bpf.object", "bpf/target/bpf/enilb.bpf.o")),
                pinRoot, Map.of())) {
            Maps maps = view.maps();
            SvcKey probe = new SvcKey(Ipv4.parse(clusterIp(0)), 80, 6);
            long churnUntil = System.nanoTime() + CHURN_SECONDS * 1_000_000_000L;
            long probeEvery = CHURN_SECONDS * 1_000_000_000L / PROBES;
            for (int p = 0; p < PROBES; p++) {
                String ip = Ipv4.format(Ipv4.parse("198.18.254.0") + (p % 250) + 1);
                long start = System.nanoTime();
                client.discovery().v1().endpointSlices().inNamespace("bench").resource(slice(0, List.of(ip))).update();
                apiNanos.add(System.nanoTime() - start);
                while (!holds(maps, probe, Ipv4.parse(ip))) {
                    if (System.nanoTime() - start > 30_000_000_000L) {
                        System.out.printf("probe %d not in the maps after 30 s: the mock API server is behind%n", p);
                        break;
                    }
                    // not a spin: the daemon under test shares two CPUs with this bench
                    java.util.concurrent.locks.LockSupport.parkNanos(200_000L);
                }
                if (holds(maps, probe, Ipv4.parse(ip))) {
                    long took = System.nanoTime() - start;
                    latencies.add(took);
                    if (took > 250_000_000L) {
                        System.out.printf("%s probe %d, %.0f s into the churn, took %.0f ms%n", Instant.now(), p,
                                (start - churnStarted) / 1e9, took / 1e6);
                    }
                }
                java.util.concurrent.locks.LockSupport.parkNanos(Math.max(50_000_000L,
                        Math.min(probeEvery - (System.nanoTime() - start), churnUntil - System.nanoTime())));
            }
            while (System.nanoTime() < churnUntil) {
                java.util.concurrent.locks.LockSupport.parkNanos(100_000_000L);
            }
        } finally {
            running.set(false);
            for (Thread t : churners) {
                t.join();
            }
        }
        double churnSeconds = (System.nanoTime() - churnStarted) / 1e9;
        Collections.sort(apiNanos);
        System.out.printf("background churn: %d endpoint changes in %.0f s (%.0f/s); the probe's update request alone "
                + "(mock API server round trip): p50 %.2f ms, p99 %.2f ms%n", churned.get(), churnSeconds,
                churned.get() / churnSeconds, pct(apiNanos, 50), pct(apiNanos, 99));
        return latencies;
    }

    private static final Pattern GC_PAUSE = Pattern.compile("^\\[([^\\]]+)\\].* Pause (\\w+).* ([0-9.]+)ms$");
    private static final java.time.format.DateTimeFormatter GC_TIME =
            java.time.format.DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSSZ");

    /** The stop-the-world pauses in a {@code -Xlog:gc:...:utc} log between two instants, by kind: count, p50, max, sum. */
    private static String pauses(Path gcLog, Instant from, Instant to) throws java.io.IOException {
        Map<String, List<Double>> byKind = new java.util.TreeMap<>();
        for (String l : Files.readAllLines(gcLog)) {
            Matcher m = GC_PAUSE.matcher(l);
            if (m.find()) {
                Instant at = java.time.OffsetDateTime.parse(m.group(1), GC_TIME).toInstant();
                if (!at.isBefore(from) && at.isBefore(to)) {
                    byKind.computeIfAbsent(m.group(2), k -> new ArrayList<>()).add(Double.parseDouble(m.group(3)));
                }
            }
        }
        StringBuilder out = new StringBuilder();
        byKind.forEach((kind, ms) -> {
            Collections.sort(ms);
            out.append(String.format("%s %d (%d over 5 ms), p50 %.1f ms, max %.1f ms, total %.0f ms; ", kind, ms.size(),
                    ms.stream().filter(t -> t > 5).count(), ms.get(ms.size() / 2), ms.get(ms.size() - 1),
                    ms.stream().mapToDouble(Double::doubleValue).sum()));
        });
        return out.length() == 0 ? "none" : out.toString();
    }

    /**
     * CPU time per thread from /proc/PID/task/TID/stat, the 12 busiest. (ps -L lists the main
     * thread, "java", with the whole process's time: that thread itself only waits.)
     */
    private static String threadTimes(long pid) throws java.io.IOException {
        List<Map.Entry<Long, String>> threads = new ArrayList<>();
        try (java.util.stream.Stream<Path> tasks = Files.list(Path.of("/proc/" + pid + "/task"))) {
            for (Path task : tasks.toList()) {
                try {
                    threads.add(Map.entry(cpuTicks(task.resolve("stat")) * 10,
                            Files.readString(task.resolve("comm")).trim() + " (" + task.getFileName() + ")"));
                } catch (java.io.IOException gone) {
                    // the thread ended meanwhile
                }
            }
        }
        threads.sort(Map.Entry.<Long, String>comparingByKey().reversed());
        StringBuilder out = new StringBuilder();
        threads.stream().limit(12).forEach(t -> out.append(String.format("%8d ms %s%n", t.getKey(), t.getValue())));
        return out.toString();
    }

    /** User + system CPU time, in clock ticks (100 Hz), of a /proc stat file (a process or one of its threads). */
    private static long cpuTicks(Path stat) throws java.io.IOException {
        String[] f = Files.readString(stat).split("\\) ", 2)[1].split(" ");
        return Long.parseLong(f[11]) + Long.parseLong(f[12]);
    }

    private static void jcmd(DaemonProcess daemon, String... command) throws Exception {
        List<String> args = new ArrayList<>(List.of("jcmd", Long.toString(daemon.process().pid())));
        args.addAll(List.of(command));
        new ProcessBuilder(args).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start().waitFor();
    }

    /** Cumulative bucket counts of enilb_sync_latency_seconds by upper bound (seconds). */
    private static Map<Double, Long> syncLatencyBuckets(DaemonProcess daemon) {
        Map<Double, Long> out = new java.util.TreeMap<>();
        Pattern bucket = Pattern.compile("^enilb_sync_latency_seconds_bucket\\{le=\"([^\"]+)\"\\} (\\S+)");
        for (String l : daemon.get("/metrics").body().split("\n")) {
            Matcher m = bucket.matcher(l);
            if (m.find()) {
                double le = m.group(1).equals("+Inf") ? Double.POSITIVE_INFINITY : Double.parseDouble(m.group(1));
                out.put(le, (long) Double.parseDouble(m.group(2)));
            }
        }
        return out;
    }

    /** The smallest bucket bound (ms) under which fraction q of the recordings between two scrapes fall. */
    private static String bucketPct(Map<Double, Long> before, Map<Double, Long> after, double q) {
        long total = after.get(Double.POSITIVE_INFINITY) - before.getOrDefault(Double.POSITIVE_INFINITY, 0L);
        for (Map.Entry<Double, Long> e : after.entrySet()) {
            long n = e.getValue() - before.getOrDefault(e.getKey(), 0L);
            if (n >= q * total) {
                return e.getKey().isInfinite() ? "inf" : String.format("%.1f", e.getKey() * 1000);
            }
        }
        return "?";
    }

    private static boolean holds(Maps maps, SvcKey frontend, int addr) {
        SvcValue svc = maps.services().get(frontend).orElse(null);
        if (svc == null || svc.active() != 1) {
            return false;
        }
        SlotValue slot = maps.slots().get(new SlotKey(svc.svcId(), 0)).orElse(null);
        if (slot == null) {
            return false;
        }
        BackendEntry be = maps.backends().get(slot.backendId()).orElse(null);
        return be != null && be.addr() == addr;
    }

    private static double pct(List<Long> sorted, int p) {
        int idx = Math.min(sorted.size() - 1, (int) Math.ceil(p / 100.0 * sorted.size()) - 1);
        return sorted.get(Math.max(0, idx)) / 1e6;
    }

    private static String line(String log, String marker) {
        return log.lines().filter(l -> l.contains(marker)).findFirst().orElse("(no line with '" + marker + "')");
    }

    private static Instant timeOf(String log, String marker) {
        Matcher m = LOG_TIME.matcher(line(log, marker));
        if (!m.find()) {
            throw new IllegalStateException("no timestamp on the line with '" + marker + "':\n" + log);
        }
        return Instant.parse(m.group(1));
    }

    private static long rssKiB(long pid) {
        try {
            for (String l : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
                if (l.startsWith("VmRSS:")) {
                    return Long.parseLong(l.replaceAll("[^0-9]", ""));
                }
            }
            return -1;
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
