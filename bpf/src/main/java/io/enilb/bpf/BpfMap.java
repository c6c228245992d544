package io.enilb.bpf;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.BiConsumer;
import java.util.function.Function;
import java.util.function.Predicate;

import jnr.constants.platform.Errno;
import jnr.ffi.Pointer;

/**
 * A kernel BPF map with typed keys and values, over libbpf's syscall wrappers. Maps of a
 * {@link BpfObject} share its fds; one opened from a pin ({@link #openPinned}) owns its fd and
 * is closed with {@link #close()}.
 */
public final class BpfMap<K, V> implements KeyValueMap<K, V>, AutoCloseable {
    private static final int ENOENT = Errno.ENOENT.intValue();
    private static final int ENOSPC = Errno.ENOSPC.intValue();
    private static final int BATCH_CHUNK = 4096;

    private final Bpf bpf = Bpf.get();
    private final String name;
    private final int fd;
    private final int maxEntries;
    private final StructCodec<K> keys;
    private final StructCodec<V> values;
    private boolean ownsFd;

    BpfMap(String name, int fd, int maxEntries, int keySize, int valueSize, StructCodec<K> keys, StructCodec<V> values) {
        if (keySize != keys.size() || valueSize != values.size()) {
            throw new BpfException("open map " + name, "layout mismatch: kernel key/value " + keySize + "/"
                    + valueSize + " bytes, Java " + keys.cName() + "/" + values.cName() + " "
                    + keys.size() + "/" + values.size() + " bytes");
        }
        this.name = name;
        this.fd = fd;
        this.maxEntries = maxEntries;
        this.keys = keys;
        this.values = values;
    }

    /**
     * Opens the map pinned at {@code pin} (e.g. a previous version's, for a migration); its layout
     * must match the codecs. Close it when done.
     */
    public static <K, V> BpfMap<K, V> openPinned(Path pin, StructCodec<K> keys, StructCodec<V> values) {
        Bpf bpf = Bpf.get();
        int fd = bpf.check(bpf.lib.bpf_obj_get(pin.toString()), "bpf_obj_get " + pin);
        try {
            MapInfo info = MapInfo.ofFd(fd, pin.toString());
            BpfMap<K, V> map = new BpfMap<>(pin.getFileName().toString(), fd, info.maxEntries(), info.keySize(),
                    info.valueSize(), keys, values);
            map.ownsFd = true;
            return map;
        } catch (RuntimeException e) {
            bpf.libc.close(fd);
            throw e;
        }
    }

    /** Closes the fd of a map opened from its pin; nothing for a map of a BpfObject. Safe twice. */
    @Override
    public synchronized void close() {
        if (ownsFd) {
            bpf.libc.close(fd);
            ownsFd = false;
        }
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public int maxEntries() {
        return maxEntries;
    }

    public int fd() {
        return fd;
    }

    @Override
    public Optional<V> get(K key) {
        Pointer k = pointerTo(keys.encode(key));
        Pointer v = bpf.allocate(values.size());
        int rc = bpf.lib.bpf_map_lookup_elem(fd, k, v);
        if (rc == -ENOENT) {
            return Optional.empty();
        }
        bpf.check(rc, "bpf_map_lookup_elem " + name);
        byte[] bytes = new byte[values.size()];
        v.get(0, bytes, 0, bytes.length);
        return Optional.of(values.decode(bytes));
    }

    @Override
    public void put(K key, V value) {
        bpf.check(bpf.lib.bpf_map_update_elem(fd, pointerTo(keys.encode(key)), pointerTo(values.encode(value)), 0),
                "bpf_map_update_elem " + name + " " + key);
    }

    @Override
    public boolean delete(K key) {
        int rc = bpf.lib.bpf_map_delete_elem(fd, pointerTo(keys.encode(key)));
        if (rc == -ENOENT) {
            return false;
        }
        bpf.check(rc, "bpf_map_delete_elem " + name + " " + key);
        return true;
    }

    /**
     * Deletes each of {@code candidates} whose value, read again right before its delete, still
     * satisfies {@code condition}; absent keys are skipped. One lookup and one delete per key
     * (no batch: the re-read must be the last word before the delete), on buffers allocated once.
     *
     * @return how many were deleted
     */
    @Override
    public int deleteIf(List<K> candidates, Predicate<V> condition) {
        Pointer k = bpf.allocate(keys.size());
        Pointer v = bpf.allocate(values.size());
        byte[] vb = new byte[values.size()];
        int deleted = 0;
        for (K key : candidates) {
            byte[] kb = keys.encode(key);
            k.put(0, kb, 0, kb.length);
            int rc = bpf.lib.bpf_map_lookup_elem(fd, k, v);
            if (rc == -ENOENT) {
                continue;
            }
            bpf.check(rc, "bpf_map_lookup_elem " + name);
            v.get(0, vb, 0, vb.length);
            if (!condition.test(values.decode(vb))) {
                continue;
            }
            rc = bpf.lib.bpf_map_delete_elem(fd, k);
            if (rc == -ENOENT) {
                continue;
            }
            bpf.check(rc, "bpf_map_delete_elem " + name + " " + key);
            deleted++;
        }
        return deleted;
    }

    @Override
    public void putAll(List<Map.Entry<K, V>> entries) {
        int done = 0;
        while (done < entries.size()) {
            int n = Math.min(BATCH_CHUNK, entries.size() - done);
            List<Map.Entry<K, V>> chunk = entries.subList(done, done + n);
            Pointer k = encoded(keys, chunk, Map.Entry::getKey);
            Pointer v = encoded(values, chunk, Map.Entry::getValue);
            Pointer count = bpf.allocate(4);
            count.putInt(0, n);
            int rc = bpf.lib.bpf_map_update_batch(fd, k, v, count, null);
            if (rc < 0) {
                throw new BatchException("bpf_map_update_batch " + name, -rc, done + count.getInt(0), entries.size());
            }
            done += n;
        }
    }

    /** {@code items} encoded back to back in native memory (one copy for the whole chunk). */
    private <E, T> Pointer encoded(StructCodec<T> codec, List<E> items, Function<E, T> of) {
        byte[] bytes = new byte[items.size() * codec.size()];
        codec.encodeAll(items, of, bytes);
        Pointer p = bpf.allocate(bytes.length);
        p.put(0, bytes, 0, bytes.length);
        return p;
    }

    @Override
    public int deleteAll(List<K> toDelete) {
        int deleted = 0;
        int next = 0;
        while (next < toDelete.size()) {
            int n = Math.min(BATCH_CHUNK, toDelete.size() - next);
            Pointer k = encoded(keys, toDelete.subList(next, next + n), Function.identity());
            Pointer count = bpf.allocate(4);
            count.putInt(0, n);
            int rc = bpf.lib.bpf_map_delete_batch(fd, k, count, null);
            int processed = count.getInt(0);
            deleted += processed;
            if (rc == -ENOENT) {
                // the batch stops at the first absent key: skip it and go on after it
                next += processed + 1;
                continue;
            }
            if (rc < 0) {
                throw new BatchException("bpf_map_delete_batch " + name, -rc, deleted, toDelete.size());
            }
            next += n;
        }
        return deleted;
    }

    @Override
    public Map<K, V> entries() {
        Map<K, V> out = new LinkedHashMap<>();
        forEachBatch(BATCH_CHUNK, out::put);
        return out;
    }

    /**
     * Walks every entry with BPF_MAP_LOOKUP_BATCH, {@code batchSize} entries per system call,
     * handing each to {@code action} on the calling thread. Entries written or deleted during
     * the walk may or may not be seen (the kernel walks bucket by bucket); each is seen at most
     * once. Blocks; never call it on an event loop.
     *
     * @return how many entries were handed over
     */
    @Override
    public long forEachBatch(int batchSize, BiConsumer<K, V> action) {
        if (batchSize <= 0) {
            throw new IllegalArgumentException("batch size must be positive: " + batchSize);
        }
        int chunk = batchSize;
        long seen = 0;
        int tokenSize = Math.max(8, keys.size());
        Pointer inBatch = null;
        Pointer outBatch = bpf.allocate(tokenSize);
        Pointer k = bpf.allocate(chunk * keys.size());
        Pointer v = bpf.allocate(chunk * values.size());
        Pointer count = bpf.allocate(4);
        byte[] kb = new byte[keys.size()];
        byte[] vb = new byte[values.size()];
        byte[] token = new byte[tokenSize];
        while (true) {
            count.putInt(0, chunk);
            int rc = bpf.lib.bpf_map_lookup_batch(fd, inBatch, outBatch, k, v, count, null);
            if (rc == -ENOSPC && count.getInt(0) == 0) {
                // one hash bucket holds more entries than fit: retry the same position with room for it
                chunk *= 2;
                k = bpf.allocate(chunk * keys.size());
                v = bpf.allocate(chunk * values.size());
                continue;
            }
            if (rc < 0 && rc != -ENOENT) {
                bpf.check(rc, "bpf_map_lookup_batch " + name);
            }
            int n = count.getInt(0);
            for (int i = 0; i < n; i++) {
                k.get((long) i * keys.size(), kb, 0, kb.length);
                v.get((long) i * values.size(), vb, 0, vb.length);
                action.accept(keys.decode(kb), values.decode(vb));
            }
            seen += n;
            if (rc == -ENOENT) {
                return seen;
            }
            if (inBatch == null) {
                inBatch = bpf.allocate(tokenSize);
            }
            outBatch.get(0, token, 0, token.length);
            inBatch.put(0, token, 0, token.length);
        }
    }

    /**
     * How many entries the map holds, counted with batch lookups ({@value #BATCH_CHUNK} entries per
     * syscall, nothing decoded): for gauges, where a walk with get_next_key would cost one syscall
     * per entry. Entries the kernel adds or evicts meanwhile may or may not be counted.
     */
    public long count() {
        long total = 0;
        Pointer inBatch = null;
        Pointer outBatch = bpf.allocate(Math.max(8, keys.size()));
        Pointer k = bpf.allocate(BATCH_CHUNK * keys.size());
        Pointer v = bpf.allocate(BATCH_CHUNK * values.size());
        Pointer count = bpf.allocate(4);
        byte[] token = new byte[Math.max(8, keys.size())];
        while (true) {
            count.putInt(0, BATCH_CHUNK);
            int rc = bpf.lib.bpf_map_lookup_batch(fd, inBatch, outBatch, k, v, count, null);
            if (rc < 0 && rc != -ENOENT) {
                bpf.check(rc, "bpf_map_lookup_batch " + name);
            }
            total += count.getInt(0);
            if (rc == -ENOENT) {
                return total;
            }
            if (inBatch == null) {
                inBatch = bpf.allocate(token.length);
            }
            outBatch.get(0, token, 0, token.length);
            inBatch.put(0, token, 0, token.length);
        }
    }

    /** Every key, walked with get_next_key: for map types without batch lookup. */
    public List<K> keys() {
        List<K> out = new ArrayList<>();
        Pointer cur = null;
        Pointer next = bpf.allocate(keys.size());
        byte[] kb = new byte[keys.size()];
        while (true) {
            int rc = bpf.lib.bpf_map_get_next_key(fd, cur, next);
            if (rc == -ENOENT) {
                return out;
            }
            bpf.check(rc, "bpf_map_get_next_key " + name);
            next.get(0, kb, 0, kb.length);
            out.add(keys.decode(kb));
            if (cur == null) {
                cur = bpf.allocate(keys.size());
            }
            cur.put(0, kb, 0, kb.length);
        }
    }

    private Pointer pointerTo(byte[] bytes) {
        Pointer p = bpf.allocate(bytes.length);
        p.put(0, bytes, 0, bytes.length);
        return p;
    }
}
