package io.enilb.bpf;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import jnr.ffi.Pointer;

/** A kernel BPF map with typed keys and values, over libbpf's syscall wrappers. */
public final class BpfMap<K, V> implements KeyValueMap<K, V> {
    private static final int ENOENT = 2;
    private static final int BATCH_CHUNK = 4096;

    private final Bpf bpf = Bpf.get();
    private final String name;
    private final int fd;
    private final int maxEntries;
    private final StructCodec<K> keys;
    private final StructCodec<V> values;

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

    @Override
    public void putAll(List<Map.Entry<K, V>> entries) {
        int done = 0;
        while (done < entries.size()) {
            int n = Math.min(BATCH_CHUNK, entries.size() - done);
            Pointer k = bpf.allocate(n * keys.size());
            Pointer v = bpf.allocate(n * values.size());
            for (int i = 0; i < n; i++) {
                Map.Entry<K, V> e = entries.get(done + i);
                k.put((long) i * keys.size(), keys.encode(e.getKey()), 0, keys.size());
                v.put((long) i * values.size(), values.encode(e.getValue()), 0, values.size());
            }
            Pointer count = bpf.allocate(4);
            count.putInt(0, n);
            int rc = bpf.lib.bpf_map_update_batch(fd, k, v, count, null);
            if (rc < 0) {
                throw new BatchException("bpf_map_update_batch " + name, -rc, done + count.getInt(0), entries.size());
            }
            done += n;
        }
    }

    @Override
    public int deleteAll(List<K> toDelete) {
        int deleted = 0;
        int next = 0;
        while (next < toDelete.size()) {
            int n = Math.min(BATCH_CHUNK, toDelete.size() - next);
            Pointer k = bpf.allocate(n * keys.size());
            for (int i = 0; i < n; i++) {
                k.put((long) i * keys.size(), keys.encode(toDelete.get(next + i)), 0, keys.size());
            }
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
        Pointer inBatch = null;
        Pointer outBatch = bpf.allocate(Math.max(8, keys.size()));
        Pointer k = bpf.allocate(BATCH_CHUNK * keys.size());
        Pointer v = bpf.allocate(BATCH_CHUNK * values.size());
        Pointer count = bpf.allocate(4);
        byte[] kb = new byte[keys.size()];
        byte[] vb = new byte[values.size()];
        while (true) {
            count.putInt(0, BATCH_CHUNK);
            int rc = bpf.lib.bpf_map_lookup_batch(fd, inBatch, outBatch, k, v, count, null);
            if (rc < 0 && rc != -ENOENT) {
                bpf.check(rc, "bpf_map_lookup_batch " + name);
            }
            int n = count.getInt(0);
            for (int i = 0; i < n; i++) {
                k.get((long) i * keys.size(), kb, 0, kb.length);
                v.get((long) i * values.size(), vb, 0, vb.length);
                out.put(keys.decode(kb), values.decode(vb));
            }
            if (rc == -ENOENT) {
                return out;
            }
            if (inBatch == null) {
                inBatch = bpf.allocate(Math.max(8, keys.size()));
            }
            byte[] token = new byte[Math.max(8, keys.size())];
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
