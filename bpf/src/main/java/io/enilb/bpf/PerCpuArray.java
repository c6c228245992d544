package io.enilb.bpf;

import java.util.ArrayList;
import java.util.List;
import java.util.function.BinaryOperator;

import jnr.ffi.Pointer;

/** A per-CPU array map: one value per possible CPU per index, read and summed by user space. */
public final class PerCpuArray<V> {
    private static final int ENOENT = 2;
    private final Bpf bpf = Bpf.get();
    private final String name;
    private final int fd;
    private final int maxEntries;
    private final StructCodec<V> values;
    private final int cpus;
    private final int stride;

    PerCpuArray(String name, int fd, int maxEntries, int valueSize, StructCodec<V> values) {
        if (valueSize != values.size()) {
            throw new BpfException("open map " + name, "layout mismatch: kernel value " + valueSize
                    + " bytes, Java " + values.cName() + " " + values.size() + " bytes");
        }
        this.name = name;
        this.fd = fd;
        this.maxEntries = maxEntries;
        this.values = values;
        this.cpus = bpf.possibleCpus();
        // the kernel copies per-CPU values 8-byte aligned
        this.stride = (values.size() + 7) & ~7;
    }

    public String name() {
        return name;
    }

    public int maxEntries() {
        return maxEntries;
    }

    /** The value of every possible CPU at {@code index}. */
    public List<V> perCpu(int index) {
        Pointer k = bpf.allocate(4);
        k.putInt(0, index);
        Pointer v = bpf.allocate(cpus * stride);
        bpf.check(bpf.lib.bpf_map_lookup_elem(fd, k, v), "bpf_map_lookup_elem " + name + " [" + index + "]");
        List<V> out = new ArrayList<>(cpus);
        byte[] one = new byte[values.size()];
        for (int c = 0; c < cpus; c++) {
            v.get((long) c * stride, one, 0, one.length);
            out.add(values.decode(one));
        }
        return out;
    }

    /** The values of every CPU at {@code index}, combined. */
    public V sum(int index, V zero, BinaryOperator<V> plus) {
        V total = zero;
        for (V v : perCpu(index)) {
            total = plus.apply(total, v);
        }
        return total;
    }

    /** Sets every CPU's value at {@code index} (zeroing a new service id's counters). */
    public void setAll(int index, V value) {
        Pointer k = bpf.allocate(4);
        k.putInt(0, index);
        Pointer v = bpf.allocate(cpus * stride);
        byte[] one = values.encode(value);
        for (int c = 0; c < cpus; c++) {
            v.put((long) c * stride, one, 0, one.length);
        }
        bpf.check(bpf.lib.bpf_map_update_elem(fd, k, v, 0), "bpf_map_update_elem " + name + " [" + index + "]");
    }

    /**
     * The values at indexes 0..{@code entries}-1, each summed over the CPUs word by word, read with
     * batch lookups (thousands of indexes per syscall) rather than one lookup per index: for values
     * made of 64-bit counters only ({@code svc_stats}). Index i's word w is at
     * {@code [i * words + w]}, words being the value's size / 8. Nothing is made per index: ranking
     * 50 000 frontends by traffic once a second decoded 300 000 objects a scrape, garbage that filled
     * the young generation while the daemon churned (docs/BENCHMARKS.md). A reader that knows the
     * highest index in use (service ids) asks for no more.
     */
    public long[] sumFirstCounters(int entries) {
        if (values.size() % 8 != 0) {
            throw new IllegalStateException(values.cName() + " is not made of 64-bit counters");
        }
        int words = values.size() / 8;
        int wanted = Math.max(0, Math.min(entries, maxEntries));
        long[] out = new long[wanted * words];
        if (wanted == 0) {
            return out;
        }
        int chunk = Math.min(wanted, 4096);
        Pointer inBatch = null;
        Pointer outBatch = bpf.allocate(8);
        Pointer k = bpf.allocate(4 * chunk);
        Pointer v = bpf.allocate(chunk * cpus * stride);
        Pointer count = bpf.allocate(4);
        byte[] token = new byte[8];
        int read = 0;
        while (true) {
            count.putInt(0, Math.min(chunk, wanted - read));
            int rc = bpf.lib.bpf_map_lookup_batch(fd, inBatch, outBatch, k, v, count, null);
            if (rc < 0 && rc != -ENOENT) {
                bpf.check(rc, "bpf_map_lookup_batch " + name);
            }
            int n = count.getInt(0);
            for (int i = 0; i < n; i++) {
                for (int c = 0; c < cpus; c++) {
                    long from = ((long) i * cpus + c) * stride;
                    for (int w = 0; w < words; w++) {
                        out[(read + i) * words + w] += v.getLong(from + 8L * w);
                    }
                }
            }
            read += n;
            if (rc == -ENOENT || n == 0 || read >= wanted) {
                return out;
            }
            if (inBatch == null) {
                inBatch = bpf.allocate(8);
            }
            outBatch.get(0, token, 0, token.length);
            inBatch.put(0, token, 0, token.length);
        }
    }
}
