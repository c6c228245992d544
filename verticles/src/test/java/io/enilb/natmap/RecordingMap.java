package io.enilb.natmap;

import io.enilb.bpf.KeyValueMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.BiConsumer;
import java.util.function.Predicate;

/**
 * A map that records every call reaching it, in order, as {@code "put NAME"}, {@code "delete NAME"}
 * (a batch is one call) or {@code "read NAME"}, and counts the entries written or deleted: the
 * writer's seam to the kernel, to check what a change costs in map operations.
 */
final class RecordingMap<K, V> extends ForwardingMap<K, V> {
    private final List<String> log;
    private final LongAdder entryCount;

    RecordingMap(KeyValueMap<K, V> map, List<String> log, LongAdder entryCount) {
        super(map);
        this.log = log;
        this.entryCount = entryCount;
    }

    RecordingMap(KeyValueMap<K, V> map, List<String> log) {
        this(map, log, new LongAdder());
    }

    /** {@code maps} (both families) behind recording maps sharing one log and one entry count. */
    static NatMaps recording(NatMaps maps, List<String> log, LongAdder entries) {
        NatMaps.V6 v6 = maps.v6();
        return new NatMaps(new RecordingMap<>(maps.services(), log, entries), new RecordingMap<>(maps.slots(), log, entries),
                new RecordingMap<>(maps.backends(), log, entries), new RecordingMap<>(maps.revNat(), log, entries),
                new RecordingMap<>(maps.clusterIps(), log, entries), maps.counters(),
                new NatMaps.V6(new RecordingMap<>(v6.services(), log, entries), new RecordingMap<>(v6.slots(), log, entries),
                        new RecordingMap<>(v6.backends(), log, entries), new RecordingMap<>(v6.revNat(), log, entries),
                        new RecordingMap<>(v6.clusterIps(), log, entries)));
    }

    @Override
    public Optional<V> get(K key) {
        log.add("read " + map.name());
        return map.get(key);
    }

    @Override
    public void put(K key, V value) {
        log.add("put " + map.name());
        entryCount.increment();
        map.put(key, value);
    }

    @Override
    public boolean delete(K key) {
        log.add("delete " + map.name());
        entryCount.increment();
        return map.delete(key);
    }

    @Override
    public void putAll(List<Map.Entry<K, V>> batch) {
        log.add("put " + map.name());
        entryCount.add(batch.size());
        map.putAll(batch);
    }

    @Override
    public int deleteAll(List<K> keys) {
        log.add("delete " + map.name());
        entryCount.add(keys.size());
        return map.deleteAll(keys);
    }

    @Override
    public Map<K, V> entries() {
        log.add("read " + map.name());
        return map.entries();
    }

    @Override
    public long forEachBatch(int batchSize, BiConsumer<K, V> action) {
        log.add("read " + map.name());
        return map.forEachBatch(batchSize, action);
    }

    @Override
    public int deleteIf(List<K> candidates, Predicate<V> condition) {
        log.add("delete " + map.name());
        entryCount.add(candidates.size());
        return map.deleteIf(candidates, condition);
    }
}
