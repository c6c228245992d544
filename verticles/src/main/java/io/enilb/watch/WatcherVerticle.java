package io.enilb.watch;

import io.enilb.bus.Addresses;
import io.enilb.bus.LocalCodecs;
import io.enilb.bus.Readiness;
import io.enilb.bus.SourceState;
import io.enilb.bus.SyncState;
import io.enilb.model.ClusterIp;
import io.enilb.model.NormalizedService;
import io.enilb.model.ServiceChange;
import io.enilb.model.ServiceKey;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.EventBus;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SortedMap;
import java.util.concurrent.Executor;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The watcher: reads Services and EndpointSlices from the configured source, normalizes them and
 * publishes one {@link ServiceChange} per change on {@link Addresses#SERVICES_CHANGED}. The
 * complete initial state is published before {@link SyncState} {@code synced=true} on
 * {@link Addresses#SOURCE_SYNC}; {@link Readiness} of component {@value #COMPONENT} goes to
 * {@link Addresses#READINESS} whenever it changes.
 *
 * <p>Configuration (the same nested shape as the daemon's YAML):
 * <pre>
 * { "source": "file" | "kubernetes",
 *   "file": { "dir": "/etc/enilb/services", "rescan-ms": 500 },
 *   "kubernetes": { "kubeconfig": "", "resync-ms": 0, "watch-list": "auto" | "on" | "off", "list-chunk": 500 },
 *   "node": { "name": "node-1" } }
 * </pre>
 * Ready means: synced, and no file of the file source fails to parse. An API error after the
 * initial sync does not make it unready (the last known state stays valid, as with kube-proxy);
 * it shows in {@link SourceState#errors()}.
 *
 * <p>After every set of changes (at most every {@value #STATE_EVERY_MS} ms) and whenever its sync
 * state or problems change, the watcher publishes its whole state as one immutable
 * {@link SourceState} on {@link Addresses#SOURCE_STATE}: the catalog's snapshot is a persistent
 * map, so that costs nothing per change. Its meters ({@code enilb_source_*}, {@code enilb_services})
 * go to the registry it is given.
 */
public final class WatcherVerticle extends VerticleBase {
    private static final Logger LOG = LoggerFactory.getLogger(WatcherVerticle.class);
    public static final String COMPONENT = "source";
    /** The longest a published {@link SourceState} lags behind the catalog. */
    static final long STATE_EVERY_MS = 20;

    private final KubernetesClient injectedClient;
    private final MeterRegistry registry;
    private final List<Meter> meters = new ArrayList<>();
    private long stateTimer = -1;

    private ServiceSource source;
    private KubernetesClient ownClient;
    private boolean stopped;
    private Readiness lastReadiness;
    private SyncState lastSync;
    /** Whether the source's state was complete once (see {@link #publishSync}). */
    private boolean completeOnce;

    private volatile String sourceName = "";
    private volatile SourceState state;
    private volatile boolean synced;
    private volatile ServiceCatalog catalog;
    private volatile SortedMap<String, String> errors = Collections.emptySortedMap();
    private volatile long errorCount;

    /** A watcher that builds its own Kubernetes client when the source is "kubernetes". */
    public WatcherVerticle() {
        this(null, new SimpleMeterRegistry());
    }

    /** A watcher that uses the given client (not closed by the verticle) when the source is "kubernetes". */
    public WatcherVerticle(KubernetesClient client) {
        this(client, new SimpleMeterRegistry());
    }

    /**
     * @param client   the Kubernetes client to use (not closed by the verticle), or null to build one
     * @param registry where the watcher registers its meters
     */
    public WatcherVerticle(KubernetesClient client, MeterRegistry registry) {
        this.injectedClient = client;
        this.registry = Objects.requireNonNull(registry, "registry");
    }

    /** The configuration this verticle reads, built from plain values. */
    public static JsonObject config(String source, String fileDir, String kubeconfig, String nodeName) {
        return new JsonObject()
                .put("source", source)
                .put("file", new JsonObject().put("dir", fileDir))
                .put("kubernetes", new JsonObject().put("kubeconfig", kubeconfig))
                .put("node", new JsonObject().put("name", nodeName));
    }

    @Override
    public Future<?> start() {
        LocalCodecs.register(vertx.eventBus());
        JsonObject conf = config();
        String kind = conf.getString("source", "file");
        JsonObject file = conf.getJsonObject("file", new JsonObject());
        JsonObject kube = conf.getJsonObject("kubernetes", new JsonObject());
        String nodeName = conf.getJsonObject("node", new JsonObject()).getString("name", "");
        if (nodeName.isEmpty()) {
            return Future.failedFuture("watcher: node.name is empty");
        }
        catalog = new ServiceCatalog(new ServiceNormalizer(nodeName));
        Executor handoff = task -> context.runOnContext(v -> task.run());
        SourceListener listener = new Publisher();
        sourceName = kind;
        registerMeters();
        publishSync();
        publishReadiness();
        publishState();

        switch (kind) {
            case "file" -> {
                Path dir = Path.of(file.getString("dir", "/etc/enilb/services"));
                Duration rescan = Duration.ofMillis(file.getLong("rescan-ms", 500L));
                source = new FileSource(dir, rescan, catalog, handoff, listener);
                source.start();
                return Future.succeededFuture();
            }
            case "kubernetes" -> {
                long resync = kube.getLong("resync-ms", 0L);
                long listChunk = kube.getLong("list-chunk", 500L);
                String listMode = kube.getString("watch-list", "auto");
                String kubeconfig = kube.getString("kubeconfig", "");
                Future<KubernetesClient> client = injectedClient != null
                        ? Future.succeededFuture(injectedClient)
                        : vertx.executeBlocking(() -> KubernetesSource.createClient(vertx, kubeconfig))
                                .recover(e -> Future.failedFuture(new IllegalStateException(
                                        "watcher: no Kubernetes client from "
                                                + (kubeconfig.isEmpty() ? "in-cluster or ~/.kube/config" : kubeconfig)
                                                + ": " + ErrorReason.of(e), e)));
                return client.compose(c -> vertx.executeBlocking(() -> {
                    KubernetesSource.chooseListMode(c, listMode);
                    return c;
                })).map(c -> {
                    if (c != injectedClient) {
                        ownClient = c;
                    }
                    source = new KubernetesSource(c, resync, listChunk, catalog, handoff, listener);
                    if (!stopped) {
                        source.start();
                    }
                    return null;
                });
            }
            default -> {
                return Future.failedFuture("watcher: source must be kubernetes or file, got '" + kind + "'");
            }
        }
    }

    @Override
    public Future<?> stop() {
        if (stopped) {
            return Future.succeededFuture();
        }
        stopped = true;
        meters.forEach(registry::remove);
        meters.clear();
        if (stateTimer >= 0) {
            vertx.cancelTimer(stateTimer);
        }
        ServiceSource s = source;
        KubernetesClient c = ownClient;
        ownClient = null;
        return vertx.executeBlocking(() -> {
            if (s != null) {
                s.close();
            }
            if (c != null) {
                c.close();
            }
            return null;
        });
    }

    /** The last state published. */
    public SourceState state() {
        return state;
    }

    /** The normalized value of every proxied Service now; immutable. */
    public SortedMap<ServiceKey, NormalizedService> services() {
        ServiceCatalog c = catalog;
        return c == null ? Collections.emptySortedMap() : c.snapshot();
    }

    private void registerMeters() {
        Tags source = Tags.of("source", sourceName);
        meters.add(Gauge.builder("enilb.source.synced", this, w -> w.synced ? 1 : 0).tags(source)
                .description("1 when the service source delivered its complete state").register(registry));
        meters.add(Gauge.builder("enilb.source.errors", this, w -> w.errors.size()).tags(source)
                .description("Problems the service source has now (files, API)").register(registry));
        meters.add(FunctionCounter.builder("enilb.source.problems", this, w -> w.errorCount).tags(source)
                .description("Problems the service source reported since start").register(registry));
        meters.add(Gauge.builder("enilb.services", this, w -> w.services().size())
                .description("Services proxied").register(registry));
    }

    /** Publishes the state now; run on this verticle's context. */
    private void publishState() {
        if (stateTimer >= 0) {
            vertx.cancelTimer(stateTimer);
            stateTimer = -1;
        }
        state = new SourceState(sourceName, synced, errors, errorCount, services());
        vertx.eventBus().publish(Addresses.SOURCE_STATE, state);
    }

    /** Publishes the state within {@link #STATE_EVERY_MS}: changes arrive by the thousand during a sync. */
    private void publishStateSoon() {
        if (stateTimer < 0 && !stopped) {
            stateTimer = vertx.setTimer(STATE_EVERY_MS, id -> {
                stateTimer = -1;
                publishState();
            });
        }
    }

    /**
     * Publishes whether the source's state is complete, when that changed: synced, and for the
     * file source once a scan read the directory and every file. nat-map removes what no Service
     * owns at the first complete state; a file that does not parse (or a directory that cannot be
     * read) when the daemon starts would otherwise take the Services it held from the pinned maps.
     */
    private void publishSync() {
        completeOnce |= synced && !filesFailing();
        boolean complete = synced && completeOnce;
        if (lastSync == null || lastSync.synced() != complete) {
            lastSync = new SyncState(sourceName, complete);
            vertx.eventBus().publish(Addresses.SOURCE_SYNC, lastSync);
        }
    }

    private void publishReadiness() {
        Readiness now;
        if (!synced) {
            String why = "source " + sourceName + " not synced yet";
            now = Readiness.notReady(COMPONENT, errors.isEmpty() ? why : why + ": " + describe(errors));
        } else if (filesFailing()) {
            now = Readiness.notReady(COMPONENT, describe(errors));
        } else {
            now = Readiness.ok(COMPONENT);
        }
        if (!now.equals(lastReadiness)) {
            lastReadiness = now;
            vertx.eventBus().publish(Addresses.READINESS, now);
        }
    }

    /**
     * Whether the file source has a file it cannot read (or its directory): its state is then
     * incomplete, where an unreadable Kubernetes object is one object's problem.
     */
    private boolean filesFailing() {
        return sourceName.equals("file") && !errors.isEmpty();
    }

    private static String describe(Map<String, String> errors) {
        return errors.entrySet().stream().map(e -> e.getKey() + ": " + e.getValue())
                .collect(Collectors.joining("; "));
    }

    /** Runs on this verticle's context (the sources hand off to it). */
    private final class Publisher implements SourceListener {
        @Override
        public void changed(List<ServiceChange> changes) {
            if (stopped) {
                return;
            }
            EventBus bus = vertx.eventBus();
            for (ServiceChange change : changes) {
                if (synced || LOG.isDebugEnabled()) {
                    log(change); // the initial listing is summed up in one line at sync instead
                }
                bus.publish(Addresses.SERVICES_CHANGED, change);
            }
            publishStateSoon();
        }

        private void log(ServiceChange change) {
            if (change.isDelete()) {
                LOG.info("service {}: removed", change.key());
            } else {
                NormalizedService s = change.service();
                LOG.info("service {}: {} port(s), {} backend(s), clusterIPs {}", change.key(),
                        s.clusterIps().get(0).ports().size(), s.clusterIps().stream().flatMap(c -> c.ports().stream())
                                .mapToInt(p -> p.backends().size()).sum(),
                        s.clusterIps().stream().map(ClusterIp::address).toList());
            }
        }

        @Override
        public void syncChanged(boolean nowSynced) {
            if (stopped || synced == nowSynced) {
                return;
            }
            synced = nowSynced;
            LOG.info("source {}: {}, {} services", sourceName, nowSynced ? "synced" : "out of sync",
                    services().size());
            publishSync();
            publishReadiness();
            publishState();
        }

        @Override
        public void errorsChanged(SortedMap<String, String> now) {
            long fresh = now.entrySet().stream().filter(e -> !e.getValue().equals(errors.get(e.getKey()))).count();
            errorCount += fresh;
            errors = now;
            if (!stopped) {
                publishSync();
                publishReadiness();
                publishState();
            }
        }
    }
}
