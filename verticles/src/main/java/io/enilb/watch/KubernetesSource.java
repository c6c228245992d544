package io.enilb.watch;

import io.enilb.model.ServiceChange;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.enilb.watch.Projection.ServiceProjection;
import io.enilb.watch.Projection.SliceProjection;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.client.VersionInfo;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.fabric8.kubernetes.client.vertx5.Vertx5HttpClientFactory;
import io.vertx.core.Vertx;
import java.io.File;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.function.Function;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Services and EndpointSlices of all namespaces from the Kubernetes API, through two fabric8
 * informers. Informer callbacks only hand the object's {@link Projection} over to {@code handoff}
 * (the watcher's Vert.x context), which updates the catalog. The source is synced once both
 * informers have listed: the catalog is then replaced by the informers' stores, so a Service
 * deleted while no watch was running disappears, and the listener learns {@code synced=true}
 * after every Service of the initial listing was reported.
 *
 * <p>Nothing is reported before both informers have listed (kube-proxy waits for both caches
 * too): the two listings run side by side, and a Service reported before the slices listing
 * reached its slices would go out without backends. When the daemon restarts over maps that hold
 * every Service, that would refuse new connections to it until its slices were listed (seconds at
 * 50 000 Services). Events of the initial listing only fill the informers' stores; the catalog
 * takes everything from them once, at sync: one normalization and one change per Service.
 *
 * <p>Memory: the informers keep their state in {@link ProjectionStore}s (enilb's projection of
 * each object, not fabric8's model), and the catalog shares those projections. The initial state
 * comes from a streaming list (a watch with {@code sendInitialEvents}, KEP-3157) when the client's
 * configuration asks for it, otherwise from lists in pages of {@code listChunk} objects, so the
 * full listing is never held at once. A streaming list the server refuses, or that does not end
 * within {@link #STREAMING_GRACE}, falls back to paged lists (fabric8's CRUD mock server, for one,
 * never ends a streaming list).
 *
 * <p>The client reads Services and EndpointSlices with {@link LeanSerialization}: straight from
 * the JSON stream into objects holding what the projection reads, the rest skipped unread. An
 * object that does not read ({@link Unreadable}) is reported as an error of its own ("service
 * default/web": what could not be read) and changes nothing: its last readable version stays in
 * force until a readable one comes or the object is deleted.
 */
public final class KubernetesSource implements ServiceSource {
    private static final Logger LOG = LoggerFactory.getLogger(KubernetesSource.class);
    private static final String ERROR_KEY = "kubernetes";
    /** How long a streaming initial list may take before the source falls back to paged lists. */
    static final java.time.Duration STREAMING_GRACE = java.time.Duration.ofSeconds(60);

    private final KubernetesClient client;
    private final long resyncMillis;
    private final long listChunk;
    private final java.time.Duration streamingGrace;
    private final ServiceCatalog catalog;
    private final Executor handoff;
    private final SourceListener listener;

    private SharedIndexInformer<Service> serviceInformer;
    private SharedIndexInformer<EndpointSlice> sliceInformer;
    private ProjectionStore<Service, ServiceProjection> serviceStore;
    private ProjectionStore<EndpointSlice, SliceProjection> sliceStore;
    private volatile boolean closed;
    // touched only through handoff
    private boolean synced;
    /** The API's error under {@link #ERROR_KEY}, each unreadable object's under its kind and key. */
    private final SortedMap<String, String> errors = new TreeMap<>();

    /**
     * @param client       a client this source uses but does not close
     * @param resyncMillis informer resync period (0 = none); a resync changes nothing unless objects differ
     * @param listChunk    objects per page of a paged list
     * @param catalog      receives the objects
     * @param handoff      runs catalog updates and listener calls (the watcher's Vert.x context)
     * @param listener     receives changes, sync state and errors
     */
    public KubernetesSource(KubernetesClient client, long resyncMillis, long listChunk, ServiceCatalog catalog,
                            Executor handoff, SourceListener listener) {
        this(client, resyncMillis, listChunk, STREAMING_GRACE, catalog, handoff, listener);
    }

    /** As above, with how long a streaming list may take before the fallback (tests). */
    KubernetesSource(KubernetesClient client, long resyncMillis, long listChunk, java.time.Duration streamingGrace,
                     ServiceCatalog catalog, Executor handoff, SourceListener listener) {
        this.streamingGrace = Objects.requireNonNull(streamingGrace, "streamingGrace");
        this.client = Objects.requireNonNull(client, "client");
        this.resyncMillis = resyncMillis;
        this.listChunk = listChunk;
        this.catalog = Objects.requireNonNull(catalog, "catalog");
        this.handoff = Objects.requireNonNull(handoff, "handoff");
        this.listener = Objects.requireNonNull(listener, "listener");
    }

    /**
     * A client for a kubeconfig file, or (path empty) in-cluster / {@code ~/.kube/config}, whose HTTP
     * traffic runs on the given Vert.x instance, reading Services and EndpointSlices leanly
     * ({@link LeanSerialization}). Reads files: call it off the event loop.
     */
    public static KubernetesClient createClient(Vertx vertx, String kubeconfig) {
        Config config = kubeconfig == null || kubeconfig.isEmpty()
                ? Config.autoConfigure(null)
                : Config.fromKubeconfig(new File(kubeconfig));
        return new KubernetesClientBuilder()
                .withConfig(config)
                .withHttpClientFactory(new Vertx5HttpClientFactory(vertx))
                .withKubernetesSerialization(LeanSerialization.create())
                .build();
    }

    /**
     * Chooses how the informers get their initial state ({@code kubernetes.watch-list}): "on",
     * "off", or "auto": streaming lists where the API server serves them by default (Kubernetes
     * 1.32, and 1.34 on; 1.33 shipped the feature gate off), paged lists elsewhere or when the
     * version cannot be read. Asks the server: call it off the event loop.
     */
    public static void chooseListMode(KubernetesClient client, String mode) {
        boolean streaming = switch (mode) {
            case "on" -> true;
            case "off" -> false;
            default -> {
                VersionInfo v;
                try {
                    v = client.getKubernetesVersion();
                } catch (RuntimeException e) {
                    LOG.info("kubernetes source: API server version unknown ({}), using paged lists",
                            ErrorReason.of(e));
                    yield false;
                }
                String major = v == null || v.getMajor() == null ? "" : v.getMajor().replaceAll("\\D", "");
                String minor = v == null || v.getMinor() == null ? "" : v.getMinor().replaceAll("\\D", "");
                if (major.isEmpty() || minor.isEmpty()) {
                    LOG.info("kubernetes source: the API server does not say its version, using paged lists");
                    yield false;
                }
                yield Integer.parseInt(major) > 1 || Integer.parseInt(minor) == 32 || Integer.parseInt(minor) >= 34;
            }
        };
        client.getConfiguration().setWatchList(streaming);
    }

    @Override
    public String name() {
        return "kubernetes";
    }

    @Override
    public synchronized void start() {
        if (serviceInformer != null || closed) {
            return;
        }
        boolean streaming = client.getConfiguration().isWatchList();
        LOG.info("kubernetes source: watching Services and EndpointSlices in all namespaces at {} ({})",
                client.getMasterUrl(), streaming ? "streaming list" : "paged lists of " + listChunk);
        serviceStore = new ProjectionStore<>(Projection::of, meta -> {
            Service skeleton = new Service();
            skeleton.setMetadata(meta);
            return skeleton;
        });
        serviceInformer = client.services().inAnyNamespace().withLimit(listChunk).runnableInformer(resyncMillis);
        serviceInformer.removeNamespaceIndex();
        serviceInformer.itemStore(serviceStore);
        serviceInformer.addEventHandler(handler("service", serviceStore, catalog::putService,
                s -> catalog.removeService(ServiceNormalizer.keyOf(s))));
        serviceInformer.exceptionHandler(this::retryAfter);
        sliceStore = new ProjectionStore<>(Projection::of, meta -> {
            EndpointSlice skeleton = new EndpointSlice();
            skeleton.setMetadata(meta);
            return skeleton;
        });
        sliceInformer = client.discovery().v1().endpointSlices().inAnyNamespace().withLimit(listChunk)
                .runnableInformer(resyncMillis);
        sliceInformer.removeNamespaceIndex();
        sliceInformer.itemStore(sliceStore);
        sliceInformer.addEventHandler(handler("endpointslice", sliceStore, catalog::putSlice,
                s -> catalog.removeSlice(ServiceNormalizer.keyOf(s))));
        sliceInformer.exceptionHandler(this::retryAfter);

        CompletableFuture<Void> services = serviceInformer.start().toCompletableFuture();
        CompletableFuture<Void> slices = sliceInformer.start().toCompletableFuture();
        CompletableFuture<Void> both = CompletableFuture.allOf(services, slices);
        if (streaming) {
            both = both.orTimeout(streamingGrace.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
        }
        both.whenComplete((ignored, failure) -> {
            if (closed) {
                return;
            }
            if (failure != null && streaming) {
                fallBackToPagedLists(failure);
                return;
            }
            if (failure != null) {
                LOG.error("kubernetes source: informers did not start: {}", ErrorReason.of(failure));
                handoff.execute(() -> reportError("informers did not start: " + ErrorReason.of(failure)));
                return;
            }
            handoff.execute(this::onInformersSynced);
        });
    }

    /** A streaming list that failed or did not end: start again with paged lists. */
    private void fallBackToPagedLists(Throwable failure) {
        LOG.warn("kubernetes source: streaming list failed ({}); falling back to paged lists", ErrorReason.of(failure));
        SharedIndexInformer<Service> s;
        SharedIndexInformer<EndpointSlice> e;
        synchronized (this) {
            s = serviceInformer;
            e = sliceInformer;
            serviceInformer = null;
            sliceInformer = null;
        }
        s.stop();
        e.stop();
        client.getConfiguration().setWatchList(false);
        start();
    }

    /** Whether both informers have listed everything once. */
    public boolean informersSynced() {
        SharedIndexInformer<Service> s = serviceInformer;
        SharedIndexInformer<EndpointSlice> e = sliceInformer;
        return s != null && e != null && s.hasSynced() && e.hasSynced();
    }

    /**
     * Replaces the catalog by the informers' stores and reports what differs; what a re-list does.
     * Run it through the hand-off executor.
     */
    public void reconcile() {
        if (!informersSynced() || closed) {
            return;
        }
        List<ServiceChange> changes = catalog.replaceAllProjected(serviceStore.projections().toList(),
                sliceStore.projections().toList());
        if (!changes.isEmpty()) {
            listener.changed(changes);
        }
    }

    private void onInformersSynced() {
        if (closed || synced || !informersSynced()) {
            return;
        }
        reconcile();
        synced = true;
        LOG.debug("kubernetes source: informers synced, {} services proxied", catalog.snapshot().size());
        clearError();
        listener.syncChanged(true);
    }

    /**
     * @param kind how errors name the objects ("service", "endpointslice")
     */
    private <T extends HasMetadata, P extends Projection.Projected> ResourceEventHandler<T> handler(
            String kind, ProjectionStore<T, P> store, Function<P, List<ServiceChange>> put,
            Function<T, List<ServiceChange>> remove) {
        return new ResourceEventHandler<>() {
            @Override
            public void onAdd(T obj) {
                putUnlessUnreadable(obj);
            }

            @Override
            public void onUpdate(T oldObj, T newObj) {
                if (oldObj == newObj) {
                    return; // a resync hands a stored skeleton back: the catalog holds its projection already
                }
                putUnlessUnreadable(newObj);
            }

            @Override
            public void onDelete(T obj, boolean deletedFinalStateUnknown) {
                apply(remove, obj, () -> kind + " " + store.getKey(obj), null);
            }

            private void putUnlessUnreadable(T obj) {
                String problem = Unreadable.problemOf(obj);
                if (problem == null) {
                    apply(put, store.projectionOf(obj), () -> kind + " " + store.getKey(obj), null);
                } else {
                    // nothing changes: the store and the catalog keep the last readable version
                    apply(ignored -> List.of(), obj, () -> kind + " " + store.getKey(obj), "resourceVersion "
                            + obj.getMetadata().getResourceVersion() + " cannot be read (" + problem
                            + "); its last readable version stays in force");
                }
            }
        };
    }

    /**
     * Runs {@code operation} on {@code obj} through the hand-off and reports its changes. The
     * object's own error (under {@code errorKey}: kind and key) becomes {@code problem}, or goes
     * away when that is null.
     */
    private <T> void apply(Function<T, List<ServiceChange>> operation, T obj, Supplier<String> errorKey,
                           String problem) {
        if (closed) {
            return;
        }
        handoff.execute(() -> {
            if (closed) {
                return;
            }
            if (problem != null) {
                String key = errorKey.get();
                if (!problem.equals(errors.get(key))) {
                    LOG.warn("kubernetes source: {} at {}", key, problem);
                }
                setError(key, problem);
            } else if (errors.size() > (errors.containsKey(ERROR_KEY) ? 1 : 0)) {
                setError(errorKey.get(), null); // some object is unreadable: maybe this one, readable or gone now
            }
            if (!synced) {
                return; // in the stores already: the catalog takes the whole listing at sync
            }
            List<ServiceChange> changes = operation.apply(obj);
            if (!changes.isEmpty()) {
                listener.changed(changes);
            }
            clearError();
        });
    }

    private boolean retryAfter(boolean started, Throwable failure) {
        String reason = ErrorReason.of(failure);
        handoff.execute(() -> reportError(reason));
        return !closed;
    }

    private void reportError(String reason) {
        if (reason.equals(errors.get(ERROR_KEY))) {
            return;
        }
        LOG.warn("kubernetes source: {} (retrying)", reason);
        setError(ERROR_KEY, reason);
    }

    private void clearError() {
        if (errors.containsKey(ERROR_KEY)) {
            LOG.info("kubernetes source: API reachable again");
            setError(ERROR_KEY, null);
        }
    }

    /** Sets (or with null removes) one error and tells the listener when that changed anything. */
    private void setError(String key, String reason) {
        String before = reason == null ? errors.remove(key) : errors.put(key, reason);
        if (!Objects.equals(before, reason)) {
            listener.errorsChanged(Collections.unmodifiableSortedMap(new TreeMap<>(errors)));
        }
    }

    @Override
    public void close() {
        SharedIndexInformer<Service> s;
        SharedIndexInformer<EndpointSlice> e;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            s = serviceInformer;
            e = sliceInformer;
        }
        if (s != null) {
            s.stop();
        }
        if (e != null) {
            e.stop();
        }
    }
}
