package io.enilb.daemon;

import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import io.enilb.attach.AttachVerticle;
import io.enilb.bpf.BpfException;
import io.enilb.bpf.BpfObject.MapNames;
import io.enilb.bpf.CgroupV2;
import io.enilb.bpf.Datapath;
import io.enilb.bpf.Ipv4;
import io.enilb.bpf.Ipv6;
import io.enilb.bpf.Structs.CtConfig;
import io.enilb.bpf.Structs.FrontendPrefix6;
import io.enilb.bus.Addresses;
import io.enilb.bus.Liveness;
import io.enilb.bus.LivenessMonitor;
import io.enilb.bus.LocalCodecs;
import io.enilb.bus.Readiness;
import io.enilb.bus.ReadinessTracker;
import io.enilb.cni.CniSocketSettings;
import io.enilb.conntrack.ConntrackTable;
import io.enilb.conntrack.ConntrackVerticle;
import io.enilb.conntrack.GcInterval;
import io.enilb.conntrack.KernelConntrackTable;
import io.enilb.daemon.config.ConfigException;
import io.enilb.daemon.config.ConfigLoader;
import io.enilb.daemon.config.EnilbConfig;
import io.enilb.daemon.systemd.SdNotify;
import io.enilb.flows.FlowFeed;
import io.enilb.flows.FlowsHttp;
import io.enilb.flows.FlowsVerticle;
import io.enilb.health.DatapathView;
import io.enilb.health.HealthMetrics;
import io.enilb.health.HealthVerticle;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.enilb.natmap.NatMapVerticle;
import io.enilb.natmap.NatMaps;
import io.enilb.watch.WatcherVerticle;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import sun.misc.Signal;

/**
 * enilbd: loads the configuration and the datapath, deploys the verticles (health, flows, nat-map,
 * conntrack, watcher, attach: observers before the producers they observe; over v1 pins the
 * upgrade steps of {@link UpgradeFromV1} run between attach's re-registration and re-attach), tells systemd when it is
 * ready, and on SIGTERM stops taking CNI requests and exits 0, leaving the datapath in place.
 *
 * <p>The systemd watchdog is pinged only while every component that sends heartbeats makes
 * progress ({@link LivenessMonitor}): a stuck native call or worker in nat-map or attach, or a
 * blocked event loop, stops the pings and systemd restarts the daemon (the datapath stays).
 */
public final class Enilbd {
    private static final Logger LOG = LoggerFactory.getLogger(Enilbd.class);
    static final int EXIT_BAD_CONFIG = 2;
    static final int EXIT_START_FAILED = 1;
    private static final Duration STOP_BUDGET = Duration.ofMillis(4500);
    /** Counting a big hash map's entries walks it; metrics refresh those counts at most this often. */
    private static final Duration MAP_COUNT_INTERVAL = Duration.ofSeconds(10);
    /** A native call or worker task running longer than this counts as stuck. */
    private static final Duration STUCK_AFTER = Duration.ofSeconds(30);

    private final Vertx vertx;
    private final PrometheusMeterRegistry registry;
    private final EnilbConfig config;
    private final SdNotify notify;
    /** The readiness component of socket translation. */
    static final String SOCKET_LB = "socket-lb";

    private final ReadinessTracker readiness = new ReadinessTracker(ReadinessTracker.REQUIRED);
    private final LivenessMonitor liveness = new LivenessMonitor(Duration.ofSeconds(10));
    private final AtomicBoolean stopping = new AtomicBoolean();
    /** Completed when nat-map first reports ready: the frontends of the first full sync are written. */
    private final Promise<Void> natMapInSync = Promise.promise();
    /** Room for the initial sync's growth, given back once ready. */
    private final InitialSyncHeap initialSyncHeap = InitialSyncHeap.roomForTheSync();
    private Datapath datapath;
    private String attachId;
    private final List<String> deployments = new java.util.ArrayList<>();

    private Enilbd(Vertx vertx, EnilbConfig config, SdNotify notify, PrometheusMeterRegistry registry) {
        this.registry = registry;
        this.vertx = vertx;
        this.config = config;
        this.notify = notify;
    }

    public static void main(String[] args) {
        Path configFile = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--config" -> {
                    if (i + 1 >= args.length) {
                        usage("--config needs a file");
                    }
                    configFile = Path.of(args[++i]);
                }
                case "-h", "--help" -> {
                    System.out.println("usage: enilbd [--config FILE]   (ENILB_* environment variables override the file)");
                    return;
                }
                default -> usage("unknown argument " + args[i]);
            }
        }
        // one registry for Vert.x's own metrics and enilb's, served by health on /metrics
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        Vertx vertx = Vertx.builder().with(HealthMetrics.vertxOptions()).withMetrics(HealthMetrics.vertxMetrics(registry)).build();
        EnilbConfig config;
        try {
            config = new ConfigLoader(vertx).load(configFile).await(30, TimeUnit.SECONDS);
        } catch (ConfigException e) {
            System.err.println("enilbd: bad configuration: " + e.getMessage());
            vertx.close();
            System.exit(EXIT_BAD_CONFIG);
            return;
        } catch (Exception e) {
            System.err.println("enilbd: cannot load configuration: " + e.getMessage());
            vertx.close();
            System.exit(EXIT_BAD_CONFIG);
            return;
        }
        LOG.info("configuration loaded from {} (source {}, node {})", configFile == null ? "defaults" : configFile,
                config.source().value, config.node().name());
        Enilbd daemon = new Enilbd(vertx, config, SdNotify.fromEnvironment(System.getenv()), registry);
        daemon.installSignalHandlers();
        try {
            daemon.start();
        } catch (Exception e) {
            LOG.error("enilbd failed to start: {}", e.getMessage());
            daemon.stop();
            System.exit(EXIT_START_FAILED);
        }
    }

    private static void usage(String problem) {
        System.err.println("enilbd: " + problem + "\nusage: enilbd [--config FILE]");
        System.exit(EXIT_BAD_CONFIG);
    }

    private void start() throws Exception {
        LocalCodecs.register(vertx.eventBus());
        vertx.eventBus().<Readiness>localConsumer(Addresses.READINESS, m -> onReadiness(m.body()));
        vertx.eventBus().<Liveness>localConsumer(Addresses.LIVENESS, m -> liveness.update(m.body()));
        notify.status("loading the datapath");

        datapath = Datapath.load(config.bpf().object(), config.bpf().pinRoot(), mapSizes(config.bpf()),
                config.bpf().tcAttach());
        LOG.info("datapath loaded: programs {}, maps pinned under {}", datapath.programs(), config.bpf().pinRoot());

        NatMapVerticle natMap = new NatMapVerticle(NatMaps.of(datapath.maps()), config.natmap().batchSize(),
                config.natmap().lingerMs(), config.natmap().queueCapacity(), registry, STUCK_AFTER);
        WatcherVerticle watcher = new WatcherVerticle(null, registry);
        UpgradeFromV1 upgrade = UpgradeFromV1.ifNeeded(vertx, config.bpf().pinRoot(), datapath.maps(), lifetimes());
        AttachVerticle attach = new AttachVerticle(datapath, config.state().dir(), new CniSocketSettings(
                config.cni().socket(), Set.copyOf(config.cni().allowedUids()), config.cni().maxRequestBytes(),
                Duration.ofMillis(config.cni().readTimeoutMs())), registry, STUCK_AFTER,
                upgrade == null ? Future::succeededFuture : () -> upgrade.beforeReattach(natMapInSync.future()),
                config.cni().procRoot());

        deployments.add(deployHealth());
        LOG.info("health listening on {}", config.health().listen());
        deployments.add(deployFlows());
        vertx.runOnContext(v -> vertx.eventBus().publish(Addresses.READINESS, Readiness.ok("datapath")));
        Readiness socketLb = socketLb();
        vertx.runOnContext(v -> vertx.eventBus().publish(Addresses.READINESS, socketLb));
        deployments.add(vertx.deployVerticle(natMap).await(60, TimeUnit.SECONDS));
        LOG.info("nat-map deployed");
        deployments.add(vertx.deployVerticle(conntrack()).await(60, TimeUnit.SECONDS));
        LOG.info("conntrack deployed");
        deployments.add(vertx.deployVerticle(watcher, new DeploymentOptions().setConfig(config.watcherConfig()))
                .await(60, TimeUnit.SECONDS));
        LOG.info("watcher deployed ({} source)", config.source().value);
        attachId = vertx.deployVerticle(attach).await(120, TimeUnit.SECONDS);
        LOG.info("attach deployed, CNI socket {}", config.cni().socket());
        if (upgrade != null) {
            upgrade.afterReattach();
        }

        notify.status("waiting for: " + String.join(", ", readiness.reasons().keySet()));
        notify.watchdogInterval().ifPresent(every -> {
            LOG.info("systemd watchdog: pinging every {} ms", every.toMillis());
            vertx.setPeriodic(every.toMillis(), id -> watchdog());
        });
    }

    /**
     * Service translation at the socket (socket-lb): the cgroup hooks on the cgroup v2 root, or
     * none (off, or auto without cgroup v2: the tc programs translate everything). Hooks pinned
     * by an earlier run are replaced in place, or removed when off.
     *
     * @return the "socket-lb" readiness: not ready only when {@code on} cannot be honoured
     */
    private Readiness socketLb() {
        EnilbConfig.SocketLb mode = config.socketLb();
        if (mode == EnilbConfig.SocketLb.OFF) {
            datapath.detachSocketHooks();
            LOG.info("socket-lb off: Services are translated per packet by the tc programs only");
            return Readiness.ok(SOCKET_LB);
        }
        try {
            Optional<Path> root = CgroupV2.root();
            if (root.isEmpty()) {
                return socketLbUnavailable(mode, "no cgroup2 file system mounted (/proc/self/mountinfo)");
            }
            if (!CgroupV2.isHierarchyRoot(root.get())) {
                return socketLbUnavailable(mode, "no cgroup2 mount is the host's root cgroup (" + root.get()
                        + " is a private cgroup namespace's; in Kubernetes the mount-cgroup init container mounts"
                        + " the host's at /run/enilb/cgroupv2)");
            }
            LOG.info("socket-lb {}: hooks {} at {}", mode.value, datapath.attachSocketHooks(root.get()), root.get());
            return Readiness.ok(SOCKET_LB);
        } catch (BpfException e) {
            return socketLbUnavailable(mode, e.getMessage());
        }
    }

    private Readiness socketLbUnavailable(EnilbConfig.SocketLb mode, String why) {
        if (mode == EnilbConfig.SocketLb.ON) {
            LOG.error("socket-lb on cannot be honoured: {}; the tc programs still translate", why);
            return Readiness.notReady(SOCKET_LB, "socket-lb on cannot be honoured: " + why);
        }
        LOG.info("socket-lb auto: {}; the tc programs translate everything", why);
        datapath.detachSocketHooks();
        return Readiness.ok(SOCKET_LB);
    }

    /** The conntrack GC with the configured lifetimes, on the kernel table. */
    private ConntrackVerticle conntrack() {
        EnilbConfig.Conntrack ct = config.conntrack();
        Optional<EnilbConfig.Cidr> services = config.serviceCidr();
        FrontendPrefix6 services6 = config.serviceCidr6()
                .map(c -> FrontendPrefix6.of(Ipv6.parse(c.address()), c.prefixLength())).orElse(FrontendPrefix6.ANYWHERE);
        return new ConntrackVerticle(new KernelConntrackTable(datapath.maps(),
                        services.map(c -> Ipv4.parse(c.address())).orElse(0), services.map(EnilbConfig.Cidr::prefixLength).orElse(0),
                        services6),
                new ConntrackTable.Lifetimes(ct.tcpSyn(), ct.tcpEstablished(), ct.tcpClosing(), ct.other()),
                new GcInterval(ct.gcIntervalMin(), ct.gcIntervalMax()), registry);
    }

    /** The configured lifetimes as the datapath takes them (for flows migrated from v1). */
    private CtConfig lifetimes() {
        EnilbConfig.Conntrack ct = config.conntrack();
        return CtConfig.lifetimes(ct.tcpSyn().toNanos(), ct.tcpEstablished().toNanos(), ct.tcpClosing().toNanos(),
                ct.other().toNanos());
    }

    /** Health first: it must hear every readiness report and pod the others publish as they start. */
    private String deployHealth() throws Exception {
        DatapathView view = DatapathView.of(datapath, MAP_COUNT_INTERVAL);
        HealthVerticle health = new HealthVerticle(config.health().listen().host(), config.health().listen().port(),
                registry, () -> view, config.metrics().perService()).mount(FlowsHttp.routes());
        config.health().probeListen().ifPresent(probes -> health.withProbeListener(probes.host(), probes.port()));
        return vertx.deployVerticle(health).await(30, TimeUnit.SECONDS);
    }

    /** Before watcher and attach: flows names events from what they publish. */
    private String deployFlows() throws Exception {
        EnilbConfig.Flows f = config.flows();
        return vertx.deployVerticle(new FlowsVerticle(FlowFeed.of(datapath.flowEvents()),
                new FlowsVerticle.Settings(f.rate(), f.burst(), f.recent(), f.queueCapacity()), registry))
                .await(30, TimeUnit.SECONDS);
    }

    private String watchdogProblem = "";

    /** Pings systemd's watchdog only while every component makes progress. */
    private void watchdog() {
        Map<String, String> problems = liveness.problems();
        String problem = problems.isEmpty() ? "" : problems.toString();
        if (!problem.equals(watchdogProblem)) {
            watchdogProblem = problem;
            if (problem.isEmpty()) {
                LOG.info("systemd watchdog: every component makes progress again; pinging");
            } else {
                LOG.error("systemd watchdog: not pinging, no progress: {}", problem);
                notify.status("no progress: " + problem);
            }
        }
        if (problem.isEmpty()) {
            notify.watchdog();
        }
    }

    private boolean announcedReady;

    private void onReadiness(Readiness r) {
        if (r.component().equals(NatMapVerticle.COMPONENT) && r.ready()) {
            natMapInSync.tryComplete();
        }
        boolean before = readiness.ready();
        readiness.update(r);
        boolean now = readiness.ready();
        if (now && !announcedReady) {
            announcedReady = true;
            LOG.info("enilbd ready");
            notify.ready("ready");
            initialSyncHeap.giveBack();
        } else if (now != before) {
            LOG.info(now ? "enilbd ready again" : "enilbd not ready: {}", readiness.reasons());
            notify.status(now ? "ready" : "not ready: " + readiness.reasons());
        }
    }

    static Map<String, Integer> mapSizes(EnilbConfig.Bpf bpf) {
        Map<String, Integer> sizes = new LinkedHashMap<>();
        sizes.put(MapNames.SERVICES, bpf.maxServices());
        sizes.put(MapNames.REV_NAT, bpf.maxServices());
        // service ids run 1..max-services and index the counters directly
        sizes.put(MapNames.SERVICE_STATS, bpf.maxServices() + 1);
        sizes.put(MapNames.SLOTS, bpf.maxBackends());
        sizes.put(MapNames.BACKENDS, bpf.maxBackends());
        sizes.put(MapNames.CONNTRACK, bpf.ctSize());
        sizes.put(MapNames.PODS, bpf.maxPods());
        // IPv6: the same limits per family (service ids are one space, see Maps)
        sizes.put(MapNames.SERVICES6, bpf.maxServices());
        sizes.put(MapNames.REV_NAT6, bpf.maxServices());
        sizes.put(MapNames.SLOTS6, bpf.maxBackends());
        sizes.put(MapNames.BACKENDS6, bpf.maxBackends());
        sizes.put(MapNames.CONNTRACK6, bpf.ctSize());
        sizes.put(MapNames.PODS6, bpf.maxPods());
        return sizes;
    }

    private void installSignalHandlers() {
        Signal.handle(new Signal("TERM"), s -> shutdown("SIGTERM"));
        Signal.handle(new Signal("INT"), s -> shutdown("SIGINT"));
    }

    /** Stops taking CNI requests first, then the rest; the datapath stays. Exits 0 within 5 s. */
    private void shutdown(String why) {
        if (!stopping.compareAndSet(false, true)) {
            return;
        }
        Thread t = new Thread(() -> {
            LOG.info("{}: stopping; programs and pinned maps stay, traffic keeps flowing", why);
            notify.stopping();
            boolean clean = stop();
            LOG.info("enilbd stopped");
            Runtime.getRuntime().halt(clean ? 0 : EXIT_START_FAILED);
        }, "enilbd-stop");
        t.start();
    }

    /** Returns true when everything stopped within the budget. */
    private boolean stop() {
        long deadline = System.nanoTime() + STOP_BUDGET.toNanos();
        boolean clean = true;
        try {
            if (attachId != null) {
                vertx.undeploy(attachId).await(remaining(deadline), TimeUnit.MILLISECONDS);
            }
            Future.all(deployments.stream().map(vertx::undeploy).toList()).await(remaining(deadline), TimeUnit.MILLISECONDS);
            vertx.close().await(remaining(deadline), TimeUnit.MILLISECONDS);
        } catch (Exception e) {
            LOG.warn("stop did not finish cleanly: {}", e.toString());
            clean = false;
        }
        if (datapath != null) {
            datapath.close();
        }
        notify.close();
        return clean;
    }

    private static long remaining(long deadline) {
        return Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()));
    }
}
