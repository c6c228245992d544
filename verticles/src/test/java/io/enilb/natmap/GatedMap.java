package io.enilb.natmap;

import io.enilb.bpf.BpfException;
import io.enilb.bpf.InMemoryMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An in-memory map whose writes can be held (a native call that does not return) or refused
 * as full (E2BIG) a given number of times: for nat-map's liveness and retry.
 */
public final class GatedMap<K, V> extends ForwardingMap<K, V> {
    private static final int E2BIG = jnr.constants.platform.Errno.E2BIG.intValue();
    private volatile CountDownLatch gate = new CountDownLatch(0);
    /** Entered when a write is held at the gate. */
    public final CountDownLatch held = new CountDownLatch(1);
    private final AtomicInteger refusals = new AtomicInteger();

    public GatedMap(String name, int maxEntries) {
        super(new InMemoryMap<>(name, maxEntries));
    }

    /** Holds every write until {@link #open()}. */
    public void close() {
        gate = new CountDownLatch(1);
    }

    public void open() {
        gate.countDown();
    }

    /** Refuses the next {@code n} writes as a full map. */
    public void refuse(int n) {
        refusals.set(n);
    }

    private void pass() {
        if (gate.getCount() > 0) {
            held.countDown();
            try {
                gate.await(60, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (refusals.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
            throw new BpfException("bpf_map_update_elem " + map.name(), E2BIG, "map full");
        }
    }

    @Override
    public void put(K key, V value) {
        pass();
        map.put(key, value);
    }

    @Override
    public void putAll(List<Map.Entry<K, V>> entries) {
        pass();
        map.putAll(entries);
    }
}
