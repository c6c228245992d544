package io.enilb.bpf;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.BiConsumer;
import java.util.function.Predicate;

import jnr.constants.platform.Errno;

/**
 * A {@link KeyValueMap} in memory with a kernel hash map's rules: a fixed capacity (E2BIG when
 * a new key does not fit) and batches that stop at the first failure. For logic tested without
 * root; the same tests also run against {@link BpfMap}.
 */
public final class InMemoryMap<K, V> implements KeyValueMap<K, V> {
    private static final int E2BIG = Errno.E2BIG.intValue();

    private final String name;
    private final int maxEntries;
    private final Map<K, V> entries = new ConcurrentHashMap<>();

    public InMemoryMap(String name, int maxEntries) {
        this.name = name;
        this.maxEntries = maxEntries;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public int maxEntries() {
        return maxEntries;
    }

    @Override
    public Optional<V> get(K key) {
        return Optional.ofNullable(entries.get(key));
    }

    @Override
    public synchronized void put(K key, V value) {
        if (!entries.containsKey(key) && entries.size() >= maxEntries) {
            throw new BpfException("bpf_map_update_elem " + name + " " + key, E2BIG, null);
        }
        entries.put(key, value);
    }

    @Override
    public boolean delete(K key) {
        return entries.remove(key) != null;
    }

    @Override
    public synchronized void putAll(List<Map.Entry<K, V>> batch) {
        for (int i = 0; i < batch.size(); i++) {
            Map.Entry<K, V> e = batch.get(i);
            if (!entries.containsKey(e.getKey()) && entries.size() >= maxEntries) {
                throw new BatchException("bpf_map_update_batch " + name, E2BIG, i, batch.size());
            }
            entries.put(e.getKey(), e.getValue());
        }
    }

    @Override
    public int deleteAll(List<K> keys) {
        int deleted = 0;
        for (K k : keys) {
            if (entries.remove(k) != null) {
                deleted++;
            }
        }
        return deleted;
    }

    @Override
    public Map<K, V> entries() {
        return new LinkedHashMap<>(entries);
    }

    @Override
    public long forEachBatch(int batchSize, BiConsumer<K, V> action) {
        if (batchSize <= 0) {
            throw new IllegalArgumentException("batch size must be positive: " + batchSize);
        }
        Map<K, V> snapshot = entries();
        snapshot.forEach(action);
        return snapshot.size();
    }

    @Override
    public int deleteIf(List<K> candidates, Predicate<V> condition) {
        int deleted = 0;
        for (K k : candidates) {
            V v = entries.get(k);
            if (v != null && condition.test(v) && entries.remove(k, v)) {
                deleted++;
            }
        }
        return deleted;
    }
}
