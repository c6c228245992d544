package io.enilb.bpf;

import java.util.function.Consumer;

import io.enilb.bpf.BpfObject.MapNames;
import io.enilb.bpf.Structs.FlowConfig;
import io.enilb.bpf.Structs.AnyFlowEvent;
import io.enilb.bpf.Structs.FlowEvent;
import io.enilb.bpf.Structs.FlowEvent6;
import io.enilb.bpf.Structs.FlowLimiter;
import jnr.constants.platform.Errno;
import jnr.ffi.Pointer;

/**
 * The datapath's flow events (bpf/include/events.h): their per-CPU rate limit, the counts of
 * what the kernel emitted and lost, and {@link Reader}s of the ring buffer through libbpf's
 * ring_buffer API.
 */
public final class FlowEvents {
    private static final int EINTR = Errno.EINTR.intValue();

    private final Bpf bpf = Bpf.get();
    private final int ringFd;
    private final BpfMap<Integer, FlowConfig> config;
    private final PerCpuArray<FlowLimiter> limiter;

    FlowEvents(BpfObject object) {
        this.ringFd = object.mapFd(MapNames.FLOWS);
        this.config = object.map(MapNames.FLOW_CONFIG, StructCodec.U32, FlowConfig.CODEC);
        this.limiter = object.perCpuArray(MapNames.FLOW_LIMITER, FlowLimiter.CODEC);
    }

    /** Sets events per second and burst per CPU from now on; {@link FlowConfig#OFF} stops them. */
    public void configure(FlowConfig rate) {
        if (rate.rate() < 0 || rate.burst() < 0 || (rate.rate() > 0 && rate.burst() == 0)) {
            throw new IllegalArgumentException("flow event rate " + rate.rate() + "/s needs a burst >= 1, got "
                    + rate.burst());
        }
        config.put(0, rate);
    }

    public FlowConfig configured() {
        return config.get(0).orElse(FlowConfig.OFF);
    }

    /** The rate configuration array (one entry), for health's map listing. */
    public BpfMap<Integer, FlowConfig> configMap() {
        return config;
    }

    /** The per-CPU rate limiter array, for health's map listing. */
    public PerCpuArray<FlowLimiter> limiterMap() {
        return limiter;
    }

    /** What every CPU emitted and lost so far (next_ns 0). */
    public FlowLimiter counts() {
        return limiter.sum(0, FlowLimiter.ZERO, FlowLimiter::plus);
    }

    /**
     * A reader handing each event ({@link FlowEvent} or {@link FlowEvent6}) to {@code sink} on the
     * thread that calls {@link Reader#poll}.
     */
    public Reader reader(Consumer<? super AnyFlowEvent> sink) {
        return new Reader(sink);
    }

    /**
     * One consumer of the ring buffer. Not thread-safe: poll and close from one thread (the
     * kernel keeps one consumer position per ring; a second reader would steal events).
     */
    public final class Reader implements AutoCloseable {
        private final Consumer<? super AnyFlowEvent> sink;
        /** Held here so the native side's pointer to it stays valid. */
        private final LibBpf.RingBufferSampleFn callback;
        private final byte[] scratch4 = new byte[FlowEvent.CODEC.size()];
        private final byte[] scratch6 = new byte[FlowEvent6.CODEC.size()];
        private Pointer rb;
        private long malformed;

        private Reader(Consumer<? super AnyFlowEvent> sink) {
            this.sink = sink;
            this.callback = (ctx, data, size) -> {
                // the two families' events share the ring; a record is exactly its struct
                byte[] scratch = size == scratch4.length ? scratch4 : size == scratch6.length ? scratch6 : null;
                if (scratch == null) {
                    malformed++;
                    return 0;
                }
                data.get(0, scratch, 0, scratch.length);
                // an exception must not cross into libbpf: the sink's problems are the sink's
                try {
                    sink.accept(scratch == scratch4 ? FlowEvent.CODEC.decode(scratch) : FlowEvent6.CODEC.decode(scratch));
                } catch (RuntimeException e) {
                    malformed++;
                }
                return 0;
            };
            this.rb = bpf.checkPointer(bpf.lib.ring_buffer__new(ringFd, callback, null, null),
                    "ring_buffer__new " + MapNames.FLOWS);
        }

        /**
         * Waits up to {@code timeoutMs} for events and hands every available one to the sink.
         * Returns how many it handed (0 on timeout or a signal).
         */
        public int poll(int timeoutMs) {
            if (rb == null) {
                throw new IllegalStateException("flow event reader closed");
            }
            int n = bpf.lib.ring_buffer__poll(rb, timeoutMs);
            if (n == -EINTR) {
                return 0;
            }
            return bpf.check(n, "ring_buffer__poll " + MapNames.FLOWS);
        }

        /** Events of neither struct's size or that the sink threw on. */
        public long malformed() {
            return malformed;
        }

        /** Safe twice. */
        @Override
        public void close() {
            if (rb != null) {
                bpf.lib.ring_buffer__free(rb);
                rb = null;
            }
        }
    }
}
