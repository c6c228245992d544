package io.enilb.health;

import io.enilb.bus.Addresses;
import io.enilb.bus.BatchWritten;
import io.enilb.bus.FrontendTable;
import io.enilb.bus.Liveness;
import io.enilb.bus.LivenessMonitor;
import io.enilb.bus.LocalCodecs;
import io.enilb.bus.PodAttachment;
import io.enilb.bus.Readiness;
import io.enilb.bus.ReadinessTracker;
import io.enilb.bus.SourceState;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.WorkerExecutor;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import org.pcollections.HashTreePMap;
import org.pcollections.PMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * health: the daemon's HTTP face for operators and for Kubernetes probes. It holds no reference
 * to another verticle: it keeps the last of what they publish on the bus (readiness, liveness,
 * the watcher's {@link SourceState}, nat-map's {@link BatchWritten}, attached and detached pods),
 * each an immutable snapshot, and answers from those.
 *
 * <ul>
 *   <li>{@code GET /healthz}: 200 "ok" while every component that sends heartbeats makes progress
 *       (its event loop beats, none of its workers or native calls is stuck); otherwise 503 with
 *       {@code {"alive":false,"reasons":{component: reason}}}.</li>
 *   <li>{@code GET /readyz}: 200 when every component that reported on {@link Addresses#READINESS}
 *       is ready and every required one ({@link ReadinessTracker#REQUIRED}) has reported ready;
 *       otherwise 503 with {@code {"ready":false,"reasons":{component: reason}}}.</li>
 *   <li>{@code GET /metrics}: Prometheus text of the registry the daemon passes in.</li>
 *   <li>{@code GET /v1/services}, {@code /v1/endpoints}, {@code /v1/programs}, {@code /v1/counters}:
 *       read-only JSON state.</li>
 * </ul>
 *
 * <p>Readiness and pods arrive only as they change, so deploy this verticle before the components
 * that report. Whatever reads kernel maps or builds large bodies (metrics, /v1/*) runs on health's
 * own small worker pool, so a busy scrape never delays nat-map or attach, and they never delay it.
 */
public final class HealthVerticle extends VerticleBase {
    private static final Logger LOG = LoggerFactory.getLogger(HealthVerticle.class);
    private static final String JSON = "application/json";
    private static final String PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8";
    /** A component whose heartbeat (every second) is older than this is taken for dead. */
    static final Duration HEARTBEAT_STALE = Duration.ofSeconds(10);
    private static final int WORKERS = 2;

    private final String host;
    private final int port;
    private final PrometheusMeterRegistry registry;
    private final Supplier<DatapathView> datapath;
    private final HealthMetrics.PerService perService;
    private final ReadinessTracker readiness;
    private final LivenessMonitor liveness;
    /** The last readiness of each component, for the enilb_ready gauges. */
    private final Map<String, Readiness> reported = new ConcurrentHashMap<>();
    // the last snapshots published; written on the event loop, read on workers
    private volatile SourceState source;
    private volatile FrontendTable frontends;
    private volatile PMap<String, PodAttachment> pods = HashTreePMap.empty();
    private final List<MessageConsumer<?>> consumers = new ArrayList<>();
    private HealthMetrics metrics;
    private WorkerExecutor workers;
    private HttpServer server;
    private String probeHost;
    private int probePortWanted;
    private HttpServer probeServer;
    /** Routes other capabilities add to this server (GET /v1/flows); health does not know them. */
    private final List<java.util.function.Consumer<Router>> mounts = new java.util.concurrent.CopyOnWriteArrayList<>();

    /**
     * @param host       address to listen on ({@code health.listen}), e.g. 127.0.0.1 or 0.0.0.0
     * @param port       port to listen on; 0 picks a free one ({@link #actualPort()})
     * @param registry   what /metrics prints (the daemon's, shared with Vert.x's and every verticle's meters)
     * @param datapath   the loaded datapath, or null (the supplier too) while nothing is loaded
     * @param perService {@code metrics.per-service}: auto, all, none or "top N"
     */
    public HealthVerticle(String host, int port, PrometheusMeterRegistry registry, Supplier<DatapathView> datapath,
                          String perService) {
        this(host, port, registry, datapath, perService, ReadinessTracker.REQUIRED);
    }

    /** As above, with another set of required components (tests, a daemon without some part). */
    public HealthVerticle(String host, int port, PrometheusMeterRegistry registry, Supplier<DatapathView> datapath,
                          String perService, Collection<String> required) {
        this.host = Objects.requireNonNull(host, "host");
        this.port = port;
        this.registry = Objects.requireNonNull(registry, "registry");
        this.datapath = datapath == null ? () -> null : datapath;
        this.perService = HealthMetrics.PerService.parse(perService);
        this.readiness = new ReadinessTracker(required);
        this.liveness = new LivenessMonitor(HEARTBEAT_STALE);
    }

    /** Adds routes to the server this verticle starts; call before deploying it. */
    public HealthVerticle mount(java.util.function.Consumer<Router> routes) {
        mounts.add(Objects.requireNonNull(routes, "routes"));
        return this;
    }

    /** The port the server listens on (useful with port 0); -1 before start. */
    public int actualPort() {
        HttpServer s = server;
        return s == null ? -1 : s.actualPort();
    }

    @Override
    public Future<?> start() {
        LocalCodecs.register(vertx.eventBus());
        metrics = new HealthMetrics(registry, perService);
        workers = vertx.createSharedWorkerExecutor("enilb-health-" + deploymentID(), WORKERS);
        consume(Addresses.READINESS, (Readiness r) -> {
            Readiness before = reported.put(r.component(), r);
            readiness.update(r);
            if (before == null || before.ready() != r.ready()) {
                LOG.info("component {} is {}", r.component(), r.ready() ? "ready" : "not ready: " + r.reason());
            }
        });
        consume(Addresses.LIVENESS, (Liveness beat) -> liveness.update(beat));
        consume(Addresses.SOURCE_STATE, (SourceState state) -> source = state);
        consume(Addresses.NATMAP_BATCH_WRITTEN, (BatchWritten batch) -> frontends = batch.frontends());
        consume(Addresses.POD_ATTACHED, (PodAttachment pod) -> pods = pods.plus(podKey(pod), pod));
        consume(Addresses.POD_DETACHED, (PodAttachment pod) -> pods = pods.minus(podKey(pod)));
        Router router = probeRouter();
        router.get("/v1/services").handler(ctx -> json(ctx, () -> StateJson.services(source, frontends)));
        router.get("/v1/endpoints").handler(ctx -> json(ctx, () -> StateJson.endpoints(pods.values())));
        router.get("/v1/programs").handler(ctx ->
                json(ctx, () -> StateJson.programs(datapath.get(), pods.values())));
        router.get("/v1/counters").handler(ctx ->
                json(ctx, () -> StateJson.counters(source, frontends, datapath.get(), registry)));
        mounts.forEach(m -> m.accept(router));
        return Future.all(consumers.stream().map(MessageConsumer::completion).toList())
                .compose(v -> vertx.createHttpServer().requestHandler(router).listen(port, host))
                .onSuccess(s -> {
                    server = s;
                    LOG.info("health listens on {}:{}", host, s.actualPort());
                })
                .onFailure(e -> LOG.error("health cannot listen on {}:{}: {}", host, port, e.getMessage()))
                .compose(s -> listenForProbes());
    }

    // --- the probe listener (health.probe-listen), kept apart from the routes above ---

    /**
     * Adds a second listener serving only {@code /healthz}, {@code /readyz} and {@code /metrics}
     * (never /v1: the Service table, container ids and netns paths stay on {@code health.listen}).
     * Call before deploying. {@code port} 0 picks a free one ({@link #probePort()}).
     */
    public HealthVerticle withProbeListener(String probeHost, int probePort) {
        this.probeHost = Objects.requireNonNull(probeHost, "probeHost");
        this.probePortWanted = probePort;
        return this;
    }

    /** The probe listener's port; -1 when there is none or before start. */
    public int probePort() {
        HttpServer s = probeServer;
        return s == null ? -1 : s.actualPort();
    }

    /** The routes the kubelet and Prometheus may reach, with the same handlers as the full server. */
    private Router probeRouter() {
        Router router = Router.router(vertx);
        router.get("/healthz").handler(this::healthz);
        router.get("/readyz").handler(this::readyz);
        router.get("/metrics").handler(this::metrics);
        return router;
    }

    private Future<?> listenForProbes() {
        if (probeHost == null) {
            return Future.succeededFuture();
        }
        return vertx.createHttpServer().requestHandler(probeRouter()).listen(probePortWanted, probeHost)
                .onSuccess(s -> {
                    probeServer = s;
                    LOG.info("health probes listen on {}:{} (/healthz, /readyz, /metrics)", probeHost, s.actualPort());
                })
                .onFailure(e -> LOG.error("health probes cannot listen on {}:{}: {}", probeHost, probePortWanted,
                        e.getMessage()));
    }

    private Future<Void> closeProbes() {
        HttpServer s = probeServer;
        probeServer = null;
        return s == null ? Future.succeededFuture() : s.close();
    }

    private <T> void consume(String address, java.util.function.Consumer<T> handler) {
        consumers.add(vertx.eventBus().<T>localConsumer(address, m -> handler.accept(m.body())));
    }

    private static String podKey(PodAttachment pod) {
        return pod.containerId() + "/" + pod.ifName();
    }

    @Override
    public Future<?> stop() {
        HttpServer s = server;
        server = null;
        List<MessageConsumer<?>> cs = new ArrayList<>(consumers);
        consumers.clear();
        HealthMetrics m = metrics;
        metrics = null;
        WorkerExecutor w = workers;
        workers = null;
        Future<Void> closed = s == null ? Future.succeededFuture() : s.close();
        Future<Void> unregistered = Future.join(cs.stream().map(MessageConsumer::unregister).toList()).mapEmpty();
        return Future.join(closed, unregistered, closeProbes()).eventually(() -> {
            if (m != null) {
                m.close();
            }
            return w == null ? Future.succeededFuture() : w.close();
        });
    }

    private void healthz(RoutingContext ctx) {
        Map<String, String> problems = liveness.problems();
        if (problems.isEmpty()) {
            ctx.response().putHeader("content-type", "text/plain").end("ok\n");
            return;
        }
        JsonObject reasons = new JsonObject();
        problems.forEach(reasons::put);
        ctx.response().setStatusCode(503).putHeader("content-type", JSON)
                .end(new JsonObject().put("alive", false).put("reasons", reasons).encode());
    }

    private void readyz(RoutingContext ctx) {
        Map<String, String> reasons = readiness.reasons();
        ctx.response().setStatusCode(reasons.isEmpty() ? 200 : 503).putHeader("content-type", JSON)
                .end(StateJson.readiness(reasons).encode());
    }

    private void metrics(RoutingContext ctx) {
        HealthMetrics m = metrics;
        WorkerExecutor w = workers;
        if (m == null || w == null) {
            ctx.response().setStatusCode(503).end("stopping\n");
            return;
        }
        Map<String, Readiness> now = Map.copyOf(reported);
        SourceState sourceNow = source;
        FrontendTable frontendsNow = frontends;
        w.executeBlocking(() -> {
            m.refresh(now, sourceNow, frontendsNow, datapath.get());
            return m.scrape();
        }, false).onComplete(done -> {
            if (done.succeeded()) {
                ctx.response().putHeader("content-type", PROMETHEUS_TEXT).end(done.result());
            } else {
                failed(ctx, "/metrics", done.cause());
            }
        });
    }

    private void json(RoutingContext ctx, Callable<JsonObject> body) {
        WorkerExecutor w = workers;
        if (w == null) {
            ctx.response().setStatusCode(503).end("stopping\n");
            return;
        }
        w.executeBlocking(() -> body.call().encodePrettily(), false).onComplete(done -> {
            if (done.succeeded()) {
                ctx.response().putHeader("content-type", JSON).end(done.result());
            } else {
                failed(ctx, ctx.normalizedPath(), done.cause());
            }
        });
    }

    private static void failed(RoutingContext ctx, String what, Throwable cause) {
        LOG.warn("{} failed: {}", what, String.valueOf(cause.getMessage()));
        ctx.response().setStatusCode(500).putHeader("content-type", JSON)
                .end(new JsonObject().put("error", String.valueOf(cause.getMessage())).encode());
    }
}
