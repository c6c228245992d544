package io.enilb.watch;

import io.enilb.model.ServiceChange;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
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
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Services and EndpointSlices of all namespaces from the Kubernetes API, through two fabric8
 * informers. Informer callbacks only hand the object over to {@code handoff} (the watcher's
 * Vert.x context), which updates the catalog. The source is synced once both informers have
 * listed: the catalog is then replaced by the informers' stores, so a Service deleted while no
 * watch was running disappears, and the listener learns {@code synced=true} after every Service
 * of the initial listing was reported.
 */
public final class KubernetesSource implements ServiceSource {
    private static final Logger LOG = LoggerFactory.getLogger(KubernetesSource.class);
    private static final String ERROR_KEY = "kubernetes";

    private final KubernetesClient client;
    private final long resyncMillis;
    private final ServiceCatalog catalog;
    private final Executor handoff;
    private final SourceListener listener;

    private SharedIndexInformer<Service> serviceInformer;
    private SharedIndexInformer<EndpointSlice> sliceInformer;
    private volatile boolean closed;
    // touched only through handoff
    private boolean synced;
    private String lastError;

    /**
     * @param client       a client this source uses but does not close
     * @param resyncMillis informer resync period (0 = none); a resync changes nothing unless objects differ
     * @param catalog      receives the objects
     * @param handoff      runs catalog updates and listener calls (the watcher's Vert.x context)
     * @param listener     receives changes, sync state and errors
     */
    public KubernetesSource(KubernetesClient client, long resyncMillis, ServiceCatalog catalog, Executor handoff,
                            SourceListener listener) {
        this.client = Objects.requireNonNull(client, "client");
        this.resyncMillis = resyncMillis;
        this.catalog = Objects.requireNonNull(catalog, "catalog");
        this.handoff = Objects.requireNonNull(handoff, "handoff");
        this.listener = Objects.requireNonNull(listener, "listener");
    }

    /**
     * A client for a kubeconfig file, or (path empty) in-cluster / {@code ~/.kube/config}, whose HTTP
     * traffic runs on the given Vert.x instance. Reads files: call it off the event loop.
     */
    public static KubernetesClient createClient(Vertx vertx, String kubeconfig) {
        Config config = kubeconfig == null || kubeconfig.isEmpty()
                ? Config.autoConfigure(null)
                : Config.fromKubeconfig(new File(kubeconfig));
        return new KubernetesClientBuilder()
                .withConfig(config)
                .withHttpClientFactory(new Vertx5HttpClientFactory(vertx))
                .build();
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
        LOG.info("kubernetes source: watching Services and EndpointSlices in all namespaces at {}",
                client.getMasterUrl());
        serviceInformer = client.services().inAnyNamespace().runnableInformer(resyncMillis);
        serviceInformer.addEventHandler(handler(catalog::putService,
                s -> catalog.removeService(ServiceNormalizer.keyOf(s))));
        serviceInformer.exceptionHandler(this::retryAfter);
        sliceInformer = client.discovery().v1().endpointSlices().inAnyNamespace().runnableInformer(resyncMillis);
        sliceInformer.addEventHandler(handler(catalog::putSlice,
                s -> catalog.removeSlice(ServiceNormalizer.keyOf(s))));
        sliceInformer.exceptionHandler(this::retryAfter);

        CompletableFuture<Void> services = serviceInformer.start().toCompletableFuture();
        CompletableFuture<Void> slices = sliceInformer.start().toCompletableFuture();
        CompletableFuture.allOf(services, slices).whenComplete((ignored, failure) -> {
            if (closed) {
                return;
            }
            if (failure != null) {
                LOG.error("kubernetes source: informers did not start: {}", FileSource.reasonOf(failure));
                handoff.execute(() -> reportError("informers did not start: " + FileSource.reasonOf(failure)));
                return;
            }
            handoff.execute(this::onInformersSynced);
        });
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
        List<ServiceChange> changes = catalog.replaceAll(serviceInformer.getStore().list(),
                sliceInformer.getStore().list());
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

    private <T extends HasMetadata> ResourceEventHandler<T> handler(Function<T, List<ServiceChange>> put,
                                                                    Function<T, List<ServiceChange>> remove) {
        return new ResourceEventHandler<>() {
            @Override
            public void onAdd(T obj) {
                apply(put, obj);
            }

            @Override
            public void onUpdate(T oldObj, T newObj) {
                apply(put, newObj);
            }

            @Override
            public void onDelete(T obj, boolean deletedFinalStateUnknown) {
                apply(remove, obj);
            }
        };
    }

    private <T> void apply(Function<T, List<ServiceChange>> operation, T obj) {
        if (closed) {
            return;
        }
        handoff.execute(() -> {
            if (closed) {
                return;
            }
            List<ServiceChange> changes = operation.apply(obj);
            if (!changes.isEmpty()) {
                listener.changed(changes);
            }
            if (synced) {
                clearError();
            }
        });
    }

    private boolean retryAfter(boolean started, Throwable failure) {
        String reason = FileSource.reasonOf(failure);
        handoff.execute(() -> reportError(reason));
        return !closed;
    }

    private void reportError(String reason) {
        if (reason.equals(lastError)) {
            return;
        }
        LOG.warn("kubernetes source: {} (retrying)", reason);
        lastError = reason;
        SortedMap<String, String> errors = new TreeMap<>();
        errors.put(ERROR_KEY, reason);
        listener.errorsChanged(Collections.unmodifiableSortedMap(errors));
    }

    private void clearError() {
        if (lastError != null) {
            lastError = null;
            LOG.info("kubernetes source: API reachable again");
            listener.errorsChanged(Collections.emptySortedMap());
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
