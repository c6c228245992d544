package io.enilb.attach;

import io.enilb.bpf.BpfException;
import io.enilb.bpf.Ipv4;
import io.enilb.bpf.Ipv6;
import io.enilb.model.IpFamily;
import io.enilb.bpf.PodDatapath;
import io.enilb.bus.Addresses;
import io.enilb.bus.LocalCodecs;
import io.enilb.bus.PodAttachment;
import io.enilb.bus.Readiness;
import io.enilb.cni.CniFailure;
import io.enilb.cni.CniReply;
import io.enilb.cni.CniRequest;
import io.enilb.cni.CniSocketServer;
import io.enilb.cni.CniSocketSettings;
import io.enilb.cni.CniWire;
import io.enilb.bus.Liveness;
import io.enilb.bus.Progress;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.WorkerExecutor;
import io.vertx.core.Promise;
import io.vertx.core.VerticleBase;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * attach: serves the CNI requests that {@code enilb-cni} forwards over the unix socket. ADD
 * registers the pod's IPv4 and IPv6 addresses for the datapath's source check, puts enilb's
 * programs on the pod's NIC and loopback and remembers the pod in the state directory; DEL takes
 * them off and forgets it; CHECK verifies; GC forgets what the runtime no longer knows; STATUS
 * says whether enilb can serve ADD. On start, remembered pods whose namespace still exists get
 * their addresses registered again, then (once the daemon's {@code beforeReattach} step is done)
 * the current programs again (replaced in place); the others are forgotten.
 *
 * <p>Requests for one container run one after another; different containers in parallel.
 * Datapath calls and state files run on workers, never on the event loop.
 *
 * <p>Publishes {@link PodAttachment} on {@link Addresses#POD_ATTACHED} / {@link Addresses#POD_DETACHED},
 * readiness "cni-socket" on {@link Addresses#READINESS}, and every second its {@link Liveness}
 * ("attach"): stuck when a datapath call or state write has run longer than {@code stuckAfter}.
 * Datapath calls run on attach's own worker pool, so a stuck netlink call never takes a thread
 * from nat-map or health; a request waits for its call at most {@code stuckAfter} and then fails
 * with "try again later". Its meters ({@code enilb_cni_*}, {@code enilb_attached_pods}) go to the
 * registry it is given.
 */
public final class AttachVerticle extends VerticleBase {
    private static final Logger LOG = LoggerFactory.getLogger(AttachVerticle.class);
    /** Readiness component name. */
    public static final String COMPONENT = "cni-socket";
    private static final Set<String> DEVICE_GONE = Set.of("ENODEV", "ENOENT", "ENXIO");

    /** Liveness component name. */
    public static final String LIVENESS = "attach";
    private static final int WORKERS = 4;
    /** How long the CNI socket must be quiet before attached pods move to tcx links (see {@link Promotions}). */
    static final Duration PROMOTE_WHEN_QUIET = Duration.ofMillis(300);
    private static final long HEARTBEAT_MS = 1000;
    /** Upper bounds of the CNI latency buckets. */
    private static final Duration[] LATENCY_SLOS = java.util.Arrays.stream(
                    new double[] {1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000})
            .mapToObj(ms -> Duration.ofNanos((long) (ms * 1_000_000))).toArray(Duration[]::new);

    private final PodDatapath datapath;
    private final Supplier<Future<Void>> beforeReattach;
    private final AttachmentStore store;
    private final CniSocketSettings socketSettings;
    private final NetworkNamespaces namespaces;
    private final MeterRegistry registry;
    private final Duration stuckAfter;
    private final Progress progress = new Progress();
    private final List<Meter> meters = new ArrayList<>();
    private WorkerExecutor worker;
    /**
     * One thread for {@link PodDatapath#promote}: a move waits in the kernel for tens of
     * milliseconds, and must not hold a worker an ADD needs.
     */
    private WorkerExecutor promoter;
    private Promotions promotions;
    private long heartbeatTimer = -1;
    /** Attachments by {@link #key}; written on the event loop, read anywhere. */
    private final Map<String, PodAttachment> attachments = new ConcurrentHashMap<>();
    /** The namespace cookie each attachment's addresses are registered under, by {@link #key}. */
    private final Map<String, Long> cookies = new ConcurrentHashMap<>();
    /** The last queued request per container id; event loop only. */
    private final Map<String, Future<?>> queues = new HashMap<>();
    /** Requests handed over and not yet answered (tests wait on it). */
    private final AtomicInteger inFlight = new AtomicInteger();
    private CniSocketServer server;
    private volatile Readiness readiness = Readiness.notReady(COMPONENT, "not started");

    /**
     * @param datapath       attaches and detaches the programs in a pod's namespace (loaded before
     *                       attach starts) and registers its addresses for the source check
     * @param stateDir       {@code state.dir}; attachments are kept in its {@code pods/}
     * @param socketSettings where and for whom the CNI socket listens
     */
    public AttachVerticle(PodDatapath datapath, Path stateDir, CniSocketSettings socketSettings) {
        this(datapath, stateDir, socketSettings, new SimpleMeterRegistry(), Duration.ofSeconds(30));
    }

    /**
     * @param registry   where attach registers its meters
     * @param stuckAfter a datapath call running longer than this fails its request and makes the heartbeat say stuck
     */
    public AttachVerticle(PodDatapath datapath, Path stateDir, CniSocketSettings socketSettings,
                          MeterRegistry registry, Duration stuckAfter) {
        this(datapath, stateDir, socketSettings, registry, stuckAfter, Future::succeededFuture, Path.of("/proc"));
    }

    /**
     * @param beforeReattach at start, runs after the remembered pods' addresses are registered and
     *                       before their programs are replaced (the daemon's upgrade steps)
     * @param procRoot       {@code cni.proc-root}: where a CNI_NETNS of /proc/PID/ns/net is read
     */
    public AttachVerticle(PodDatapath datapath, Path stateDir, CniSocketSettings socketSettings,
                          MeterRegistry registry, Duration stuckAfter, Supplier<Future<Void>> beforeReattach,
                          Path procRoot) {
        this.datapath = datapath;
        this.beforeReattach = beforeReattach;
        this.store = new AttachmentStore(stateDir);
        this.socketSettings = socketSettings;
        this.namespaces = new NetworkNamespaces(procRoot);
        this.registry = Objects.requireNonNull(registry, "registry");
        this.stuckAfter = Objects.requireNonNull(stuckAfter, "stuckAfter");
    }

    /** The pods that carry enilb's programs now. */
    public List<PodAttachment> attachments() {
        return List.copyOf(attachments.values());
    }

    /** Whether the socket listens (the last readiness published). */
    public Readiness readiness() {
        return readiness;
    }

    /** Requests received and not yet answered. */
    int inFlight() {
        return inFlight.get();
    }

    @Override
    public Future<?> start() {
        LocalCodecs.register(vertx.eventBus());
        server = new CniSocketServer(socketSettings, this::handle);
        worker = vertx.createSharedWorkerExecutor("enilb-attach-" + deploymentID(), WORKERS);
        promoter = vertx.createSharedWorkerExecutor("enilb-attach-promote-" + deploymentID(), 1);
        promotions = new Promotions(vertx, PROMOTE_WHEN_QUIET,
                pod -> serialized(pod.containerId(), () -> promote(pod.containerId(), pod.ifName())));
        registerMeters(server);
        heartbeatTimer = vertx.setPeriodic(HEARTBEAT_MS, id -> heartbeat());
        heartbeat();
        return blocking("registering remembered pods", this::registerRemembered)
                .compose(live -> beforeReattach.get().map(live))
                .compose(live -> blocking("re-attaching remembered pods", () -> reattach(live)))
                .onSuccess(restored -> restored.forEach(this::remember))
                .compose(restored -> blocking("opening the CNI socket", () -> {
                    server.start();
                    return null;
                }))
                .onSuccess(v -> setReadiness(Readiness.ok(COMPONENT)))
                .onFailure(e -> setReadiness(Readiness.notReady(COMPONENT, String.valueOf(e.getMessage()))));
    }

    @Override
    public Future<?> stop() {
        if (heartbeatTimer >= 0) {
            vertx.cancelTimer(heartbeatTimer);
            heartbeatTimer = -1;
        }
        if (promotions != null) {
            promotions.stop();
        }
        meters.forEach(registry::remove);
        meters.clear();
        CniSocketServer running = server;
        WorkerExecutor w = worker;
        WorkerExecutor p = promoter;
        server = null;
        worker = null;
        promoter = null;
        if (running == null || w == null) {
            return Future.succeededFuture();
        }
        return w.executeBlocking(() -> {
            running.stop();
            return null;
        }, false).onComplete(v -> setReadiness(Readiness.notReady(COMPONENT, "stopped"))).eventually(w::close)
                .eventually(p::close);
    }

    private void registerMeters(CniSocketServer socket) {
        meters.add(FunctionCounter.builder("enilb.cni.malformed.requests", socket, CniSocketServer::malformedRequests)
                .description("CNI socket requests refused before a command ran: malformed, too large or too slow")
                .register(registry));
        meters.add(FunctionCounter.builder("enilb.cni.refused.peers", socket, CniSocketServer::refusedPeers)
                .description("CNI socket connections refused because of the peer's uid").register(registry));
        meters.add(Gauge.builder("enilb.attached.pods", attachments, Map::size)
                .description("Pod interfaces carrying enilb's programs").register(registry));
        meters.add(Gauge.builder("enilb.attached.pods.waiting.move", promotions, Promotions::waiting)
                .description("Attached pods waiting to move from clsact filters to tcx links (until the CNI socket"
                        + " is quiet)").register(registry));
    }

    /** Runs {@code work} on attach's workers, tracked for the heartbeat; gives up waiting after {@code stuckAfter}. */
    private <T> Future<T> blocking(String what, Callable<T> work) {
        return blocking(worker, what, work);
    }

    private <T> Future<T> blocking(WorkerExecutor executor, String what, Callable<T> work) {
        return executor.<T>executeBlocking(() -> {
            long op = progress.begin(what);
            try {
                return work.call();
            } finally {
                progress.end(op);
            }
        }, false).timeout(stuckAfter.toMillis(), TimeUnit.MILLISECONDS).recover(e -> {
            if (e instanceof java.util.concurrent.TimeoutException) {
                return Future.failedFuture(new CniFailure(CniWire.TRY_AGAIN_LATER,
                        what + " did not finish within " + stuckAfter.toMillis() + " ms"));
            }
            return Future.failedFuture(e);
        });
    }

    private void heartbeat() {
        vertx.eventBus().publish(Addresses.LIVENESS, new Liveness(LIVENESS, progress.stuck(stuckAfter).orElse("")));
    }

    /**
     * Runs on a worker at start: forgets the remembered pods whose namespace is gone (and their
     * addresses) and registers the addresses of the others again (the pods map may be new, e.g.
     * after an upgrade).
     */
    private List<PodAttachment> registerRemembered() throws Exception {
        List<PodAttachment> live = new ArrayList<>();
        for (AttachmentStore.Stored stored : store.loadAll()) {
            PodAttachment pod = stored.pod();
            String label = label(pod.containerId(), pod.ifName());
            Path netns = namespaces.resolve(pod.netns());
            if (!NetworkNamespaces.isPodNetns(netns)) {
                forgetGoneSources(stored);
                store.delete(pod.containerId(), pod.ifName());
                LOG.info("pod {} forgotten: its namespace {} is gone", label, pod.netns());
                continue;
            }
            try {
                long cookie = registerSources(pod);
                if (cookie != stored.netnsCookie() || !stored.bootId().equals(AttachmentStore.currentBootId())) {
                    store.save(pod, cookie); // a record written before cookies were kept
                }
            } catch (RuntimeException e) {
                // kept: its programs are re-attached; DEL or GC will come for it
                LOG.warn("pod {}: addresses {} could not be registered, its NEW flows are refused: {}",
                        label, pod.ips(), e.getMessage());
            }
            live.add(pod);
        }
        return live;
    }

    /**
     * Runs on a worker at start: the remembered pods get the current programs (replaced in
     * place), and the links of pods that went while the daemon was down are released.
     */
    private List<PodAttachment> reattach(List<PodAttachment> pods) {
        releaseDefunct();
        for (PodAttachment pod : pods) {
            String label = label(pod.containerId(), pod.ifName());
            try {
                datapath.attach(namespaces.resolve(pod.netns()), pod.ifName());
                LOG.info("pod {} re-attached", label);
            } catch (BpfException e) {
                // kept: DEL or GC will come for it, and CHECK reports it
                LOG.warn("pod {} could not be re-attached: {}", label, e.getMessage());
            }
        }
        return pods;
    }

    // --- source verification: the pod's addresses in the datapath's pods map, under its netns cookie

    /** Registers the pod's IPv4 and IPv6 addresses under its namespace's cookie and returns the cookie; blocks. */
    private long registerSources(PodAttachment pod) {
        long cookie = datapath.registerAddresses(namespaces.resolve(pod.netns()), ipv4(pod), ipv6(pod));
        cookies.put(key(pod.containerId(), pod.ifName()), cookie);
        return cookie;
    }

    /** Forgets what {@link #registerSources} registered for an attachment; blocks. A no-op when nothing was. */
    private void forgetSources(String key, PodAttachment pod) {
        Long cookie = cookies.remove(key);
        if (cookie != null && pod != null) {
            datapath.forgetAddresses(cookie, ipv4(pod), ipv6(pod));
        }
    }

    /**
     * At start, for a pod whose namespace went while the daemon was down: its links and its
     * addresses under the cookie recorded at ADD. Only from this boot: cookies count again from the start after a
     * reboot, so an old one may be a live pod's now (and the pods map is new anyway).
     */
    private void forgetGoneSources(AttachmentStore.Stored stored) {
        if (stored.netnsCookie() != 0 && !stored.bootId().isEmpty()
                && stored.bootId().equals(AttachmentStore.currentBootId())) {
            detachGone(stored.netnsCookie(), "pod " + label(stored.pod().containerId(), stored.pod().ifName()));
            try {
                datapath.forgetAddresses(stored.netnsCookie(), ipv4(stored.pod()), ipv6(stored.pod()));
            } catch (RuntimeException e) {
                LOG.warn("pod {}: addresses {} could not be forgotten: {}",
                        label(stored.pod().containerId(), stored.pod().ifName()), stored.pod().ips(), e.getMessage());
            }
        }
    }

    /** After an ADD again for the same container and interface: what the earlier ADD registered and this one did not. */
    private void forgetReplaced(PodAttachment previous, Long previousCookie, PodAttachment pod, long cookie) {
        if (previous == null || previousCookie == null) {
            return;
        }
        boolean sameNetns = previousCookie == cookie;
        List<Integer> stale = ipv4(previous).stream().filter(addr -> !sameNetns || !ipv4(pod).contains(addr)).toList();
        List<Ipv6> stale6 = ipv6(previous).stream().filter(addr -> !sameNetns || !ipv6(pod).contains(addr)).toList();
        if (!stale.isEmpty() || !stale6.isEmpty()) {
            datapath.forgetAddresses(previousCookie, stale, stale6);
        }
    }

    private static List<Integer> ipv4(PodAttachment pod) {
        return pod.ips().stream().filter(ip -> IpFamily.of(ip) == IpFamily.IPV4).map(Ipv4::parse).toList();
    }

    private static List<Ipv6> ipv6(PodAttachment pod) {
        return pod.ips().stream().filter(ip -> IpFamily.of(ip) == IpFamily.IPV6).map(Ipv6::parse).toList();
    }

    /** Called on a socket thread: hands the request to the event loop, returns the reply's future. */
    private Future<CniReply> handle(CniRequest request) {
        Promise<CniReply> reply = Promise.promise();
        inFlight.incrementAndGet();
        context.runOnContext(v -> dispatch(request).onComplete(reply));
        return reply.future().onComplete(done -> inFlight.decrementAndGet());
    }

    private Future<CniReply> dispatch(CniRequest request) {
        long started = System.nanoTime();
        promotions.requestSeen();
        Future<CniReply> work;
        try {
            switch (request.command()) {
                case CniWire.ADD -> work = serialized(request.containerId(), () -> add(request));
                case CniWire.DEL -> work = serialized(request.containerId(), () -> del(request));
                case CniWire.CHECK -> work = serialized(request.containerId(), () -> check(request));
                case CniWire.GC -> work = gc(request);
                case CniWire.STATUS -> work = status();
                default -> throw new CniFailure(CniWire.INVALID_ENVIRONMENT, "unknown command " + request.command());
            }
        } catch (RuntimeException e) {
            work = Future.failedFuture(e);
        }
        return work.otherwise(CniReply::failed).map(reply -> {
            account(request, reply, System.nanoTime() - started);
            return reply;
        });
    }

    /** Runs {@code work} after every earlier request for {@code containerId} has finished. */
    private <T> Future<T> serialized(String containerId, Supplier<Future<T>> work) {
        Future<?> previous = queues.getOrDefault(containerId, Future.succeededFuture());
        Future<T> next = previous.transform(done -> {
            try {
                return work.get();
            } catch (RuntimeException e) {
                return Future.failedFuture(e);
            }
        });
        queues.put(containerId, next);
        next.onComplete(done -> queues.remove(containerId, next));
        return next;
    }

    private Future<CniReply> add(CniRequest request) {
        Object prevResult = request.config().getValue("prevResult");
        if (!(prevResult instanceof JsonObject result)) {
            throw new CniFailure(CniWire.INVALID_CONFIG, "enilb is a chained plugin: ADD needs a prevResult",
                    "put enilb after the plugin that creates the pod's interface");
        }
        List<String> ips = addresses(result);
        if (ips.isEmpty()) {
            throw new CniFailure(CniWire.INVALID_CONFIG, "prevResult has no IP address in ips",
                    "enilb serves IPv4, IPv6 and dual-stack pods: the previous plugin must assign an address");
        }
        PodAttachment pod = new PodAttachment(request.containerId(), request.ifName(), request.netns(), ips);
        Path netns = namespaces.resolve(request.netns());
        return blocking("ADD pod " + request.podLabel(), () -> {
            requirePodNamespace(request, netns);
            String key = key(pod.containerId(), pod.ifName());
            PodAttachment previous = attachments.get(key);
            Long previousCookie = cookies.get(key);
            long cookie;
            try {
                cookie = registerSources(pod);
            } catch (BpfException e) {
                throw datapathFailure("cannot register the pod's addresses " + ips, e);
            }
            try {
                datapath.attach(netns, request.ifName());
                store.save(pod, cookie);
            } catch (BpfException | java.io.IOException e) {
                // nothing stays of a failed ADD: the runtime retries it or sends DEL
                forgetSources(key(pod.containerId(), pod.ifName()), pod);
                if (e instanceof BpfException be) {
                    throw datapathFailure("cannot attach to " + request.ifName(), be);
                }
                throw e;
            }
            forgetReplaced(previous, previousCookie, pod, cookie);
            return pod;
        }).map(saved -> {
            remember(saved);
            return CniReply.ok(printable(result, request.cniVersion()));
        });
    }

    /**
     * When {@link Promotions} says (after an ADD, or at start, once the socket is quiet): moves
     * the pod's programs to where the datapath prefers them ({@link PodDatapath#promote}: tcx
     * links), in the container's line. A pod deleted meanwhile is left alone; a failure leaves the
     * pod on what ADD attached, which translates the same, and is logged.
     */
    private Future<Void> promote(String containerId, String ifName) {
        PodAttachment pod = attachments.get(key(containerId, ifName));
        if (pod == null) {
            return Future.succeededFuture();
        }
        String label = label(containerId, ifName);
        return blocking(promoter, "moving pod " + label + " to tcx links",
                () -> datapath.promote(namespaces.resolve(pod.netns()), ifName))
                .onSuccess(moved -> {
                    if (moved) {
                        LOG.debug("pod {}: programs moved to tcx links", label);
                    }
                })
                .onFailure(e -> LOG.warn("pod {}: programs stay where ADD put them (clsact): {}", label, e.getMessage()))
                .<Void>mapEmpty().otherwiseEmpty();
    }

    private Future<CniReply> del(CniRequest request) {
        String key = key(request.containerId(), request.ifName());
        PodAttachment known = attachments.get(key);
        String netnsText = !request.netns().isEmpty() ? request.netns() : known == null ? "" : known.netns();
        return blocking("DEL pod " + request.podLabel(), () -> {
            // never the host's namespace: an ADD naming it was refused, nothing of ours is there
            if (!netnsText.isEmpty() && NetworkNamespaces.isPodNetns(namespaces.resolve(netnsText))) {
                try {
                    datapath.detach(namespaces.resolve(netnsText), request.ifName());
                } catch (BpfException e) {
                    if (!DEVICE_GONE.contains(e.errnoName())) {
                        throw datapathFailure("cannot detach from " + request.ifName(), e);
                    }
                }
            } else {
                detachGone(cookies.get(key), "DEL pod " + request.podLabel());
            }
            forgetSources(key, known);
            store.delete(request.containerId(), request.ifName());
            return null;
        }).map(v -> {
            forget(key);
            return CniReply.ok();
        });
    }

    private Future<CniReply> check(CniRequest request) {
        Path netns = namespaces.resolve(request.netns());
        String ifName = request.ifName();
        return blocking("CHECK pod " + request.podLabel(), () -> {
            requirePodNamespace(request, netns);
            List<PodDatapath.AttachedProgram> programs;
            try {
                programs = datapath.attached(netns, ifName);
            } catch (BpfException e) {
                throw datapathFailure("cannot list programs on " + ifName, e);
            }
            List<String> missing = new ArrayList<>();
            for (String[] hook : new String[][] {{ifName, "egress"}, {ifName, "ingress"}, {"lo", "egress"}}) {
                boolean found = false;
                for (PodDatapath.AttachedProgram program : programs) {
                    found |= program.device().equals(hook[0]) && program.direction().equals(hook[1]);
                }
                if (!found) {
                    missing.add(hook[0] + " " + hook[1]);
                }
            }
            if (!missing.isEmpty()) {
                throw new CniFailure(CniWire.PLUGIN_FAILURE, "enilb programs missing: " + String.join(", ", missing),
                        "found: " + programs);
            }
            return CniReply.ok();
        });
    }

    private Future<CniReply> gc(CniRequest request) {
        Object valid = request.config().getValue("cni.dev/valid-attachments");
        if (!(valid instanceof JsonArray validArray)) {
            throw new CniFailure(CniWire.INVALID_CONFIG, "GC needs cni.dev/valid-attachments");
        }
        Set<String> keep = new HashSet<>();
        for (Object entry : validArray) {
            if (!(entry instanceof JsonObject attachment)
                    || !(attachment.getValue("containerID") instanceof String containerId)
                    || !(attachment.getValue("ifname") instanceof String ifName)) {
                throw new CniFailure(CniWire.INVALID_CONFIG,
                        "cni.dev/valid-attachments entries need containerID and ifname");
            }
            keep.add(key(containerId, ifName));
        }
        List<Future<Boolean>> collected = new ArrayList<>();
        for (PodAttachment stale : attachments.values()) {
            if (!keep.contains(key(stale.containerId(), stale.ifName()))) {
                collected.add(serialized(stale.containerId(), () -> collect(stale)));
            }
        }
        return Future.join(collected).transform(done -> {
            long forgotten = collected.stream().filter(f -> f.succeeded() && f.result()).count();
            if (forgotten > 0) {
                LOG.info("cni GC forgot {} attachment(s)", forgotten);
            }
            return Future.succeededFuture(CniReply.ok());
        });
    }

    /** Forgets one attachment the runtime no longer knows, detaching if its namespace exists. */
    private Future<Boolean> collect(PodAttachment stale) {
        String key = key(stale.containerId(), stale.ifName());
        if (attachments.get(key) != stale) {
            return Future.succeededFuture(false); // re-added or deleted meanwhile
        }
        return blocking("GC pod " + label(stale.containerId(), stale.ifName()), () -> {
            Path netns = namespaces.resolve(stale.netns());
            if (NetworkNamespaces.isPodNetns(netns)) {
                datapath.detach(netns, stale.ifName());
            } else {
                detachGone(cookies.get(key), "GC pod " + label(stale.containerId(), stale.ifName()));
            }
            forgetSources(key, stale);
            store.delete(stale.containerId(), stale.ifName());
            return true;
        }).onSuccess(v -> forget(key)).onFailure(e ->
                LOG.warn("pod {} GC failed, kept: {}", label(stale.containerId(), stale.ifName()), e.getMessage()));
    }

    /**
     * Removes the programs of a pod whose namespace went before its DEL, by the cookie recorded
     * at ADD (null: none was); blocking. A failure is logged: the sweep at the next start takes
     * what is left.
     */
    private void detachGone(Long netnsCookie, String when) {
        if (netnsCookie == null) {
            return;
        }
        try {
            datapath.detachGone(netnsCookie);
        } catch (RuntimeException e) {
            LOG.warn("{}: the programs of its namespace (gone) not released: {}", when, e.getMessage());
        }
    }

    /**
     * At start: releases the links of devices that went with no DEL that reached us (the daemon
     * was down, or its namespace went before its record was written); blocking.
     */
    private void releaseDefunct() {
        try {
            int released = datapath.releaseDefunct();
            if (released > 0) {
                LOG.info("released {} link(s) of devices that are gone", released);
            }
        } catch (RuntimeException e) {
            LOG.warn("links of devices that are gone not released: {}", e.getMessage());
        }
    }

    /** ADD and CHECK act only inside a live namespace that is not enilbd's own (the host's). Blocking. */
    private static void requirePodNamespace(CniRequest request, Path netns) {
        if (!NetworkNamespaces.isNetns(netns)) {
            throw new CniFailure(CniWire.INVALID_ENVIRONMENT,
                    "CNI_NETNS " + request.netns() + " is not a network namespace");
        }
        if (NetworkNamespaces.isOwn(netns)) {
            throw new CniFailure(CniWire.INVALID_ENVIRONMENT,
                    "CNI_NETNS " + request.netns() + " is the host's network namespace (enilbd's own)",
                    "enilb attaches only inside pods' namespaces; nothing was changed");
        }
    }

    private Future<CniReply> status() {
        List<String> reasons = new ArrayList<>();
        if (server == null || !server.isListening()) {
            reasons.add("the CNI socket does not listen");
        }
        if (!reasons.isEmpty()) {
            throw new CniFailure(CniWire.NOT_AVAILABLE, "enilb is not ready", String.join("; ", reasons));
        }
        return Future.succeededFuture(CniReply.ok());
    }

    private void remember(PodAttachment pod) {
        attachments.put(key(pod.containerId(), pod.ifName()), pod);
        promotions.add(key(pod.containerId(), pod.ifName()), pod);
        vertx.eventBus().publish(Addresses.POD_ATTACHED, pod);
    }

    private void forget(String key) {
        promotions.remove(key);
        PodAttachment gone = attachments.remove(key);
        if (gone != null) {
            vertx.eventBus().publish(Addresses.POD_DETACHED, gone);
        }
    }

    private void setReadiness(Readiness next) {
        readiness = next;
        vertx.eventBus().publish(Addresses.READINESS, next);
    }

    /** Counts the request and logs one line for an operator. */
    private void account(CniRequest request, CniReply reply, long nanos) {
        String outcome = reply.isOk() ? "ok" : reply.error().code() <= CniWire.INVALID_CONFIG ? "invalid" : "failed";
        Counter.builder("enilb.cni.requests").description("CNI requests served, by command and outcome")
                .tags("command", request.command(), "outcome", outcome).register(registry).increment();
        Timer.builder("enilb.cni.request.duration").description("Time to serve a CNI request, by command")
                .tags("command", request.command()).serviceLevelObjectives(LATENCY_SLOS).register(registry)
                .record(nanos, TimeUnit.NANOSECONDS);
        String subject = request.containerId().isEmpty() ? "cni" : "pod " + request.podLabel();
        String took = String.format("%.1f ms", nanos / 1e6);
        if (reply.isOk()) {
            if (request.command().equals(CniWire.STATUS)) {
                LOG.debug("{} {} ok in {}", subject, request.command(), took);
            } else {
                LOG.info("{} {} ok in {}", subject, request.command(), took);
            }
        } else {
            LOG.warn("{} {} failed in {}: {} (code {}{})", subject, request.command(), took,
                    reply.error().getMessage(), reply.error().code(),
                    reply.error().details().isEmpty() ? "" : ", " + reply.error().details());
        }
    }

    /** prevResult as the plugin prints it: unchanged, in the config's cniVersion. */
    private static JsonObject printable(JsonObject prevResult, String cniVersion) {
        JsonObject printed = new JsonObject().put("cniVersion", cniVersion);
        prevResult.forEach(entry -> {
            if (!entry.getKey().equals("cniVersion")) {
                printed.put(entry.getKey(), entry.getValue());
            }
        });
        return printed;
    }

    /**
     * The IPv4 and IPv6 addresses in prevResult's ips, without prefix length, in canonical text
     * ({@link IpFamily#canonical}), in the order given; anything else is left out.
     */
    static List<String> addresses(JsonObject prevResult) {
        List<String> found = new ArrayList<>();
        Object ips = prevResult.getValue("ips");
        if (!(ips instanceof JsonArray array)) {
            return found;
        }
        for (Object ip : array) {
            if (ip instanceof JsonObject entry && entry.getValue("address") instanceof String address) {
                int slash = address.indexOf('/');
                String bare = IpFamily.canonical(slash < 0 ? address : address.substring(0, slash));
                if (bare != null && !found.contains(bare)) {
                    found.add(bare);
                }
            }
        }
        return found;
    }

    private static CniFailure datapathFailure(String what, BpfException e) {
        return new CniFailure(CniWire.PLUGIN_FAILURE, what + ": " + e.getMessage(), e.errnoName());
    }

    private static String key(String containerId, String ifName) {
        return containerId + "/" + ifName;
    }

    private static String label(String containerId, String ifName) {
        return CniRequest.shortId(containerId) + "/" + ifName;
    }
}
