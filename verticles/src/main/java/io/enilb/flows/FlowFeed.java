package io.enilb.flows;

import java.util.function.Consumer;

import io.enilb.bpf.FlowEvents;
import io.enilb.bpf.Structs.FlowConfig;
import io.enilb.bpf.Structs.AnyFlowEvent;
import io.enilb.bpf.Structs.FlowLimiter;

/** Where flow events come from: the datapath's ring buffer ({@link #of}), or a test's. */
public interface FlowFeed {
    /** One reader: polled and closed by one thread. */
    interface Reader extends AutoCloseable {
        /** Waits up to timeoutMs, hands every available event to the sink; returns how many. */
        int poll(int timeoutMs);

        @Override
        void close();
    }

    /** Sets the datapath's events per second and burst per CPU. */
    void configure(FlowConfig rate);

    /** Opens a reader handing events to {@code sink} on the thread that polls it. */
    Reader open(Consumer<AnyFlowEvent> sink);

    /** What the datapath emitted and lost so far, summed over CPUs. */
    FlowLimiter counts();

    static FlowFeed of(FlowEvents events) {
        return new FlowFeed() {
            @Override
            public void configure(FlowConfig rate) {
                events.configure(rate);
            }

            @Override
            public Reader open(Consumer<AnyFlowEvent> sink) {
                FlowEvents.Reader reader = events.reader(sink);
                return new Reader() {
                    @Override
                    public int poll(int timeoutMs) {
                        return reader.poll(timeoutMs);
                    }

                    @Override
                    public void close() {
                        reader.close();
                    }
                };
            }

            @Override
            public FlowLimiter counts() {
                return events.counts();
            }
        };
    }
}
