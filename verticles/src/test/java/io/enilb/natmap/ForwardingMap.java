package io.enilb.natmap;

import io.enilb.bpf.KeyValueMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.BiConsumer;
import java.util.function.Predicate;

/**
 * A map that hands every call to another: the base of the test maps that watch or hold the
 * writer's calls (RecordingMap, GatedMap), which override only the calls they care about.
 */
public abstract class ForwardingMap<K, V> implements KeyValueMap<K, V> {
    protected final KeyValueMap<K, V> map;

    protected ForwardingMap(KeyValueMap<K, V> map) {
        this.map = map;
    }

    @Override
    public String name() {
        return map.name();
    }

    @Override
    public int maxEntries() {
        return map.maxEntries();
    }

    @Override
    public Optional<V> get(K key) {
        return map.get(key);
    }

    @Override
    public void put(K key, V value) {
        map.put(key, value);
    }

    @Override
    public boolean delete(K key) {
        return map.delete(key);
    }

    @Override
    public void putAll(List<Map.Entry<K, V>> entries) {
        map.putAll(entries);
    }

    @Override
    public int deleteAll(List<K> keys) {
        return map.deleteAll(keys);
    }

    @Override
    public Map<K, V> entries() {
        return map.entries();
    }

    @Override
    public long forEachBatch(int batchSize, BiConsumer<K, V> action) {
        return map.forEachBatch(batchSize, action);
    }

    @Override
    public int deleteIf(List<K> candidates, Predicate<V> condition) {
        return map.deleteIf(candidates, condition);
    }
}
