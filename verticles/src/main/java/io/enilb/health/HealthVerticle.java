package io.enilb.health;

import io.enilb.bus.Addresses;
import io.enilb.bus.LocalCodecs;
import io.enilb.bus.Readiness;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * health: the daemon's HTTP face for operators and for Kubernetes probes.
 *
 * <ul>
 *   <li>{@code GET /healthz}: 200 "ok" while the event loop answers.</li>
 *   <li>{@code GET /readyz}: 200 when every component that reported on {@link Addresses#READINESS}
 *       is ready and every required one ({@link #REQUIRED}) has reported ready; otherwise 503 with
 *       {@code {"ready":false,"reasons":{component: reason}}}.</li>
 *   <li>{@code GET /metrics}: Prometheus text of the registry the daemon passes in.</li>
 *   <li>{@code GET /v1/services}, {@code /v1/endpoints}, {@code /v1/programs}: read-only JSON state.</li>
 * </ul>
 *
 * <p>Readiness arrives only as it changes, so deploy this verticle before the components that
 * report. Everything that reads nat-map or kernel maps (metrics, /v1/*) runs on a worker.
 */
public final class HealthVerticle extends VerticleBase {
    private static final Logger LOG = LoggerFactory.getLogger(HealthVerticle.class);
    /** Components that must have reported ready before /readyz says 200. */
    public static final List<String> REQUIRED = List.of("source", "datapath", "cni-socket", "nat-map");
    static final String NOT_REPORTED = "not reported yet";
    private static final String JSON = "application/json";
    private static final String PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8";

    private final String host;
    private final int port;
    private final PrometheusMeterRegistry registry;
    private final HealthSources sources;
    private final List<String> required;
    /** The last readiness of each component; written on the event loop, read on workers too. */
    private final Map<String, Readiness> readiness = new ConcurrentHashMap<>();
    private HealthMetrics metrics;
    private MessageConsumer<Readiness> consumer;
    private HttpServer server;
    private String probeHost;
    private int probePortWanted;
    private HttpServer probeServer;
    /** Routes other capabilities add to this server (GET /v1/flows); health does not know them. */
    private final List<java.util.function.Consumer<Router>> mounts = new java.util.concurrent.CopyOnWriteArrayList<>();

    /**
     * @param host     address to listen on ({@code health.listen}), e.g. 127.0.0.1 or 0.0.0.0
     * @param port     port to listen on; 0 picks a free one ({@link #actualPort()})
     * @param registry where enilb's meters go and what /metrics prints (the daemon's, shared with Vert.x's metrics)
     * @param sources  the daemon's state; any part may be missing
     */
    public HealthVerticle(String host, int port, PrometheusMeterRegistry registry, HealthSources sources) {
        this(host, port, registry, sources, REQUIRED);
    }

    /** As above, with another set of required components (tests, a daemon without some part). */
    public HealthVerticle(String host, int port, PrometheusMeterRegistry registry, HealthSources sources,
                          List<String> required) {
        this.host = Objects.requireNonNull(host, "host");
        this.port = port;
        this.registry = Objects.requireNonNull(registry, "registry");
        this.sources = sources == null ? HealthSources.NONE : sources;
        this.required = List.copyOf(required);
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
        metrics = new HealthMetrics(registry, sources);
        consumer = vertx.eventBus().consumer(Addresses.READINESS, message -> {
            Readiness r = message.body();
            Readiness before = readiness.put(r.component(), r);
            if (before == null || before.ready() != r.ready()) {
                LOG.info("component {} is {}", r.component(), r.ready() ? "ready" : "not ready: " + r.reason());
            }
        });
        Router router = probeRouter();
        router.get("/v1/services").handler(ctx ->
                json(ctx, () -> StateJson.services(sources.services(), sources.natMap())));
        router.get("/v1/endpoints").handler(ctx -> json(ctx, () -> StateJson.endpoints(sources.attachmentsNow())));
        router.get("/v1/programs").handler(ctx ->
                json(ctx, () -> StateJson.programs(sources.datapathNow(), sources.attachmentsNow())));
        mounts.forEach(m -> m.accept(router));
        return consumer.completion()
                .compose(v -> vertx.createHttpServer().requestHandler(router).listen(port, host))
                .onSuccess(s -> {
                    server = s;
                    LOG.info("health listens on {}:{}", host, s.actualPort());
                })
                .onFailure(e -> LOG.error("health cannot listen on {}:{}: {}", host, port, e.getMessage()))
                .compose(s -> listenForProbes());
    }

    // --- the probe listener (health.probe-listen), kept apart from the routes above (issue 13) ---

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
        router.get("/healthz").handler(ctx -> ctx.response().putHeader("content-type", "text/plain").end("ok\n"));
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

    @Override
    public Future<?> stop() {
        HttpServer s = server;
        server = null;
        MessageConsumer<Readiness> c = consumer;
        consumer = null;
        HealthMetrics m = metrics;
        metrics = null;
        Future<Void> closed = s == null ? Future.succeededFuture() : s.close();
        Future<Void> unregistered = c == null ? Future.succeededFuture() : c.unregister();
        return Future.join(closed, unregistered, closeProbes()).eventually(() -> {
            if (m != null) {
                m.close();
            }
            return Future.succeededFuture();
        });
    }

    /** Why the daemon is not ready, by component; empty when it is. */
    Map<String, String> notReadyReasons() {
        return reasons(readiness, required);
    }

    static Map<String, String> reasons(Map<String, Readiness> reported, List<String> required) {
        Map<String, String> reasons = new TreeMap<>();
        for (String component : required) {
            if (!reported.containsKey(component)) {
                reasons.put(component, NOT_REPORTED);
            }
        }
        for (Readiness r : reported.values()) {
            if (!r.ready()) {
                reasons.put(r.component(), r.reason().isEmpty() ? "not ready" : r.reason());
            }
        }
        return reasons;
    }

    private void readyz(RoutingContext ctx) {
        Map<String, String> reasons = notReadyReasons();
        ctx.response().setStatusCode(reasons.isEmpty() ? 200 : 503).putHeader("content-type", JSON)
                .end(StateJson.readiness(reasons).encode());
    }

    private void metrics(RoutingContext ctx) {
        HealthMetrics m = metrics;
        if (m == null) {
            ctx.response().setStatusCode(503).end("stopping\n");
            return;
        }
        Map<String, Readiness> now = Map.copyOf(readiness);
        vertx.executeBlocking(() -> {
            m.refresh(now);
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
        vertx.executeBlocking(body, false).onComplete(done -> {
            if (done.succeeded()) {
                ctx.response().putHeader("content-type", JSON).end(done.result().encodePrettily());
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
