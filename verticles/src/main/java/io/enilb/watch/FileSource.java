package io.enilb.watch;

import io.enilb.model.ServiceChange;
import io.enilb.watch.Projection.ServiceProjection;
import io.enilb.watch.Projection.SliceProjection;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.KubernetesList;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.io.IOException;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Services and EndpointSlices from a directory of Kubernetes YAML files (several documents per
 * file allowed; {@code *.yaml}, {@code *.yml}, {@code *.json}; hidden files ignored). A thread of
 * its own watches the directory (WatchService) and rescans it by modification time and size every
 * {@code rescanInterval} as a fallback, so a change takes effect within that interval.
 *
 * <p>A file that does not parse keeps its last good content in force; its error is reported
 * until it parses again. Deleting a file removes its objects. The catalog is changed and the
 * listener called only through {@code handoff}.
 */
public final class FileSource implements ServiceSource {
    private static final Logger LOG = LoggerFactory.getLogger(FileSource.class);
    /** Lets an editor or {@code cp} finish writing before the directory is read after an event. */
    private static final long SETTLE_MILLIS = 30;

    private final Path dir;
    private final Duration rescanInterval;
    private final ServiceCatalog catalog;
    private final Executor handoff;
    private final SourceListener listener;
    private final KubernetesSerialization serialization = new KubernetesSerialization();
    private final AtomicLong parseFailures = new AtomicLong();

    // owned by the scanning thread
    private final Map<Path, LoadedFile> files = new HashMap<>();
    private final SortedMap<String, String> errors = new TreeMap<>();
    private SortedMap<String, String> reportedErrors = Collections.emptySortedMap();
    private boolean firstScanDone;
    private volatile WatchService watchService;
    private WatchKey watchKey;

    private volatile boolean closed;
    private Thread thread;

    /**
     * @param dir            the directory to read
     * @param rescanInterval how often to rescan without a WatchService event (at most 1 s to honour the contract)
     * @param catalog        receives the objects
     * @param handoff        runs catalog updates and listener calls (the watcher's Vert.x context)
     * @param listener       receives changes, sync state and errors
     */
    public FileSource(Path dir, Duration rescanInterval, ServiceCatalog catalog, Executor handoff,
                      SourceListener listener) {
        this.dir = Objects.requireNonNull(dir, "dir");
        this.rescanInterval = Objects.requireNonNull(rescanInterval, "rescanInterval");
        this.catalog = Objects.requireNonNull(catalog, "catalog");
        this.handoff = Objects.requireNonNull(handoff, "handoff");
        this.listener = Objects.requireNonNull(listener, "listener");
    }

    @Override
    public String name() {
        return "file";
    }

    public Path dir() {
        return dir;
    }

    /** Files that failed to parse since start (each failing version of a file counts once). */
    public long parseFailures() {
        return parseFailures.get();
    }

    @Override
    public synchronized void start() {
        if (thread != null) {
            return;
        }
        thread = new Thread(this::run, "enilb-file-source");
        thread.setDaemon(true);
        thread.start();
    }

    @Override
    public void close() {
        Thread t;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            t = thread;
        }
        if (t != null) {
            t.interrupt();
            try {
                t.join(TimeUnit.SECONDS.toMillis(2));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        closeWatchService();
    }

    private void run() {
        LOG.info("file source: reading {}", dir);
        try {
            while (!closed) {
                ensureWatching();
                scan();
                waitForChange();
            }
        } catch (InterruptedException | ClosedWatchServiceException e) {
            // closing
        } catch (RuntimeException e) {
            LOG.error("file source: stopped on an unexpected error for {}", dir, e);
        } finally {
            closeWatchService();
        }
    }

    private void ensureWatching() {
        if (watchKey != null && watchKey.isValid()) {
            return;
        }
        try {
            if (watchService == null) {
                watchService = dir.getFileSystem().newWatchService();
            }
            if (Files.isDirectory(dir)) {
                watchKey = dir.register(watchService, StandardWatchEventKinds.ENTRY_CREATE,
                        StandardWatchEventKinds.ENTRY_DELETE, StandardWatchEventKinds.ENTRY_MODIFY,
                        StandardWatchEventKinds.OVERFLOW);
            }
        } catch (IOException e) {
            // the periodic rescan still works
            LOG.debug("file source: cannot watch {}: {}", dir, e.toString());
        }
    }

    private void waitForChange() throws InterruptedException {
        if (watchService == null || watchKey == null || !watchKey.isValid()) {
            Thread.sleep(rescanInterval.toMillis()); // the rescan interval, not a wait for an event
            return;
        }
        WatchKey key = watchService.poll(rescanInterval.toMillis(), TimeUnit.MILLISECONDS);
        if (key != null) {
            Thread.sleep(SETTLE_MILLIS);
            do {
                key.pollEvents();
                key.reset();
                key = watchService.poll();
            } while (key != null);
        }
    }

    private void closeWatchService() {
        WatchService ws;
        synchronized (this) {
            ws = watchService;
        }
        if (ws != null) {
            try {
                ws.close();
            } catch (IOException ignored) {
                // nothing left to release
            }
        }
    }

    /** Reads files whose size or modification time changed; hands the result over when anything did. */
    void scan() {
        boolean changed = !firstScanDone;
        Map<Path, Fingerprint> present = listFiles();
        if (present == null) {
            changed |= errors.put(dir.toString(), "directory " + dir + " cannot be read") == null;
            changed |= !files.isEmpty();
            files.clear();
            errors.keySet().removeIf(k -> !k.equals(dir.toString()));
        } else {
            changed |= errors.remove(dir.toString()) != null;
            for (Path gone : new ArrayList<>(files.keySet())) {
                if (!present.containsKey(gone)) {
                    files.remove(gone);
                    errors.remove(gone.getFileName().toString());
                    LOG.info("file source: file {} removed, its objects are gone", gone.getFileName());
                    changed = true;
                }
            }
            for (Map.Entry<Path, Fingerprint> entry : present.entrySet()) {
                LoadedFile before = files.get(entry.getKey());
                if (before == null || !before.fingerprint.equals(entry.getValue())) {
                    load(entry.getKey(), entry.getValue(), before);
                    changed = true;
                }
            }
        }
        if (changed) {
            deliver();
        }
    }

    private void deliver() {
        if (closed) {
            return;
        }
        List<ServiceProjection> services = new ArrayList<>();
        List<SliceProjection> slices = new ArrayList<>();
        new TreeMap<>(files).values().forEach(f -> {
            services.addAll(f.services);
            slices.addAll(f.slices);
        });
        SortedMap<String, String> errorsNow = Collections.unmodifiableSortedMap(new TreeMap<>(errors));
        boolean first = !firstScanDone;
        firstScanDone = true;
        handoff.execute(() -> {
            List<ServiceChange> changes = catalog.replaceAllProjected(services, slices);
            if (!changes.isEmpty()) {
                listener.changed(changes);
            }
            if (!errorsNow.equals(reportedErrors) || first) {
                reportedErrors = errorsNow;
                listener.errorsChanged(errorsNow);
            }
            if (first) {
                listener.syncChanged(true);
            }
        });
    }

    /** Regular, non-hidden YAML/JSON files of the directory with their fingerprints; null when it cannot be listed. */
    private Map<Path, Fingerprint> listFiles() {
        Map<Path, Fingerprint> result = new TreeMap<>();
        try (DirectoryStream<Path> stream = Files.newDirectoryStream(dir)) {
            for (Path path : stream) {
                String name = path.getFileName().toString();
                if (name.startsWith(".") || !(name.endsWith(".yaml") || name.endsWith(".yml") || name.endsWith(".json"))) {
                    continue;
                }
                try {
                    BasicFileAttributes attrs = Files.readAttributes(path, BasicFileAttributes.class);
                    if (attrs.isRegularFile()) {
                        result.put(path, new Fingerprint(attrs.lastModifiedTime(), attrs.size(),
                                attrs.fileKey()));
                    }
                } catch (NoSuchFileException raced) {
                    // removed while listing; the next scan sees it gone
                }
            }
        } catch (IOException e) {
            return null;
        }
        return result;
    }

    private void load(Path path, Fingerprint fingerprint, LoadedFile before) {
        String name = path.getFileName().toString();
        try {
            LoadedFile loaded = parse(path, fingerprint);
            files.put(path, loaded);
            if (errors.remove(name) != null) {
                LOG.info("file source: file {} parses again ({} services, {} slices)", name,
                        loaded.services.size(), loaded.slices.size());
            } else {
                LOG.info("file source: loaded file {} ({} services, {} slices)", name,
                        loaded.services.size(), loaded.slices.size());
            }
        } catch (IOException | RuntimeException e) {
            if (closed) {
                return; // interrupted by close()
            }
            String reason = ErrorReason.of(e);
            parseFailures.incrementAndGet();
            errors.put(name, reason);
            // keep the previous good content, but remember this version so it is not parsed again
            files.put(path, before == null
                    ? new LoadedFile(fingerprint, List.of(), List.of())
                    : new LoadedFile(fingerprint, before.services, before.slices));
            LOG.warn("file source: file {} not loaded, {}; {}", name, reason,
                    before == null ? "it contributes nothing" : "its last good content stays in force");
        }
    }

    /** Parses a file and keeps the {@link Projection} of each object: a file's last good content may stay for long. */
    private LoadedFile parse(Path path, Fingerprint fingerprint) throws IOException {
        String text = Files.readString(path);
        List<ServiceProjection> services = new ArrayList<>();
        List<SliceProjection> slices = new ArrayList<>();
        List<Object> documents = new ArrayList<>();
        if (!text.isBlank()) {
            flatten(serialization.unmarshal(text), documents);
        }
        String name = path.getFileName().toString();
        for (Object document : documents) {
            if (document instanceof Service service) {
                requireName(service);
                services.add(Projection.of(service));
            } else if (document instanceof EndpointSlice slice) {
                requireName(slice);
                slices.add(Projection.of(slice));
            } else if (document instanceof HasMetadata other) {
                LOG.info("file source: file {}: ignoring {} {} {}", name, other.getApiVersion(), other.getKind(),
                        other.getMetadata() == null ? "" : other.getMetadata().getName());
            } else {
                LOG.info("file source: file {}: ignoring a document that is not a Kubernetes object", name);
            }
        }
        return new LoadedFile(fingerprint, List.copyOf(services), List.copyOf(slices));
    }

    private static void flatten(Object parsed, List<Object> out) {
        if (parsed == null) {
            return;
        }
        if (parsed instanceof KubernetesList list) {
            list.getItems().forEach(item -> flatten(item, out));
        } else if (parsed instanceof Collection<?> collection) {
            collection.forEach(item -> flatten(item, out));
        } else {
            out.add(parsed);
        }
    }

    private static void requireName(HasMetadata object) {
        if (object.getMetadata() == null || object.getMetadata().getName() == null
                || object.getMetadata().getName().isEmpty()) {
            throw new IllegalArgumentException(object.getKind() + " without metadata.name");
        }
    }

    private record Fingerprint(FileTime modified, long size, Object fileKey) {
    }

    private record LoadedFile(Fingerprint fingerprint, List<ServiceProjection> services, List<SliceProjection> slices) {
    }
}
