package io.enilb.flows;

import java.util.ArrayDeque;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import io.enilb.bpf.Structs.FlowConfig;
import io.enilb.bpf.Structs.AnyFlowEvent;
import io.enilb.bpf.Structs.FlowLimiter;
import io.enilb.bus.Addresses;
import io.enilb.bus.Flow;
import io.enilb.bus.LocalCodecs;
import io.enilb.bus.PodAttachment;
import io.enilb.bus.RecentFlows;
import io.enilb.model.ServiceChange;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.VerticleBase;
import io.vertx.core.eventbus.MessageConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * flows: reads the datapath's flow events on a thread of its own, names them (Service from the
 * watcher's changes, pod from attach's events), keeps the most recent in a bounded ring and
 * publishes each on {@link Addresses#FLOWS}; answers {@link Addresses#FLOWS_RECENT}.
 *
 * <p>Everything is bounded: the kernel emits at most the configured rate per CPU, the reader
 * thread hands events to the event loop through a queue of {@code queueCapacity}, and what
 * does not fit anywhere is counted (enilb_flow_events_lost_total), never buffered.
 */
public final class FlowsVerticle extends VerticleBase {
    private static final Logger LOG = LoggerFactory.getLogger(FlowsVerticle.class);
    private static final int POLL_MS = 200;
    private static final int DRAIN_BATCH = 1024;
    /** Kernel counts are read at most this often (a per-CPU map read per scrape is enough). */
    private static final long COUNTS_MAX_AGE_NS = 1_000_000_000L;

    /**
     * @param rate          events per second per CPU the datapath may emit ({@code flows.rate}); 0: none
     * @param burst         events a CPU may emit at once ({@code flows.burst})
     * @param recent        events kept for {@code GET /v1/flows} ({@code flows.recent})
     * @param queueCapacity events between the reader thread and the event loop
     */
    public record Settings(int rate, int burst, int recent, int queueCapacity) {
        public Settings {
            if (rate < 0 || burst < 0 || (rate > 0 && burst < 1) || recent < 1 || queueCapacity < 1) {
                throw new IllegalArgumentException("flows: rate >= 0, burst >= 1 when rate > 0, recent >= 1, "
                        + "queue >= 1; got " + rate + ", " + burst + ", " + recent + ", " + queueCapacity);
            }
        }
    }

    private final FlowFeed feed;
    private final Settings settings;
    private final MeterRegistry registry;
    private final FlowNames names = new FlowNames();
    private final ArrayDeque<Flow> recent;
    private final BlockingQueue<AnyFlowEvent> handoff;
    private final AtomicBoolean drainScheduled = new AtomicBoolean();
    private final AtomicBoolean running = new AtomicBoolean();
    private final AtomicLong received = new AtomicLong();
    private final AtomicLong lostDaemon = new AtomicLong();
    private final AtomicReference<CountsAt> kernelCounts = new AtomicReference<>(new CountsAt(FlowLimiter.ZERO, 0));
    private final List<MessageConsumer<?>> consumers = new java.util.ArrayList<>();
    private final List<Meter> meters = new java.util.ArrayList<>();
    private Thread reader;

    private record CountsAt(FlowLimiter counts, long readAtNs) {
    }

    public FlowsVerticle(FlowFeed feed, Settings settings, MeterRegistry registry) {
        this.feed = feed;
        this.settings = settings;
        this.registry = registry;
        this.recent = new ArrayDeque<>(settings.recent());
        this.handoff = new ArrayBlockingQueue<>(settings.queueCapacity());
    }

    @Override
    public Future<?> start() {
        LocalCodecs.register(vertx.eventBus());
        var bus = vertx.eventBus();
        consumers.add(bus.<ServiceChange>localConsumer(Addresses.SERVICES_CHANGED, m -> names.apply(m.body())));
        consumers.add(bus.<PodAttachment>localConsumer(Addresses.POD_ATTACHED, m -> names.attached(m.body())));
        consumers.add(bus.<PodAttachment>localConsumer(Addresses.POD_DETACHED, m -> names.detached(m.body())));
        consumers.add(bus.localConsumer(Addresses.FLOWS_RECENT, m -> {
            List<Flow> now = List.copyOf(recent);
            // the kernel's counts are a map read: a worker's job, not the event loop's
            vertx.executeBlocking(this::kernelCounts, false).onComplete(k -> {
                FlowLimiter c = k.succeeded() ? k.result().counts : FlowLimiter.ZERO;
                m.reply(new RecentFlows(now, c.lostRate(), c.lostFull(), lostDaemon.get()));
            });
        }));
        registerMeters();
        return vertx.executeBlocking(() -> {
            feed.configure(new FlowConfig(settings.rate(), settings.burst()));
            return null;
        }).compose(v -> startReader()).onSuccess(v -> LOG.info("flows: reading the datapath's events ({}/s, burst {} "
                + "per CPU; keeping the last {})", settings.rate(), settings.burst(), settings.recent()));
    }

    /** The reader thread opens, polls and closes the ring buffer reader: libbpf wants one thread. */
    private Future<Void> startReader() {
        Promise<Void> opened = Promise.promise();
        running.set(true);
        reader = new Thread(() -> {
            FlowFeed.Reader r;
            try {
                r = feed.open(this::handOff);
            } catch (RuntimeException e) {
                running.set(false);
                opened.tryFail(e);
                return;
            }
            opened.tryComplete();
            try (r) {
                while (running.get()) {
                    if (r.poll(POLL_MS) > 0) {
                        scheduleDrain();
                    }
                }
            } catch (RuntimeException e) {
                LOG.error("flows: reading the datapath's events failed, no more flow events: {}", e.getMessage());
            }
        }, "enilb-flows-reader");
        reader.setDaemon(true);
        reader.start();
        return opened.future();
    }

    /** On the reader thread: never blocks; what does not fit is counted. */
    private void handOff(AnyFlowEvent e) {
        received.incrementAndGet();
        if (!handoff.offer(e)) {
            lostDaemon.incrementAndGet();
        }
    }

    private void scheduleDrain() {
        if (drainScheduled.compareAndSet(false, true)) {
            context.runOnContext(v -> drain());
        }
    }

    /** On the event loop: names, keeps and publishes a batch, then yields if more wait. */
    private void drain() {
        drainScheduled.set(false);
        long wallMinusMono = System.currentTimeMillis() * 1_000_000L - System.nanoTime();
        var bus = vertx.eventBus();
        for (int i = 0; i < DRAIN_BATCH; i++) {
            AnyFlowEvent e = handoff.poll();
            if (e == null) {
                return;
            }
            Flow flow = names.name(e, wallMinusMono);
            if (recent.size() == settings.recent()) {
                recent.removeFirst();
            }
            recent.addLast(flow);
            bus.publish(Addresses.FLOWS, flow);
        }
        scheduleDrain();
    }

    private CountsAt kernelCounts() {
        CountsAt last = kernelCounts.get();
        long now = System.nanoTime();
        if (now - last.readAtNs < COUNTS_MAX_AGE_NS && last.readAtNs != 0) {
            return last;
        }
        CountsAt fresh = new CountsAt(feed.counts(), now);
        kernelCounts.set(fresh);
        return fresh;
    }

    private void registerMeters() {
        meters.add(FunctionCounter.builder("enilb.flow.events", received, AtomicLong::get)
                .description("Flow events enilbd read from the datapath").register(registry));
        meters.add(FunctionCounter.builder("enilb.flow.events.emitted", this, v -> v.kernelCounts().counts.emitted())
                .description("Flow events the datapath wrote into its ring buffer").register(registry));
        meters.add(FunctionCounter.builder("enilb.flow.events.lost", this, v -> v.kernelCounts().counts.lostRate())
                .tag("reason", "rate").description("Flow events not emitted: over flows.rate per CPU, or lost on the way")
                .register(registry));
        meters.add(FunctionCounter.builder("enilb.flow.events.lost", this, v -> v.kernelCounts().counts.lostFull())
                .tag("reason", "ring-full").register(registry));
        meters.add(FunctionCounter.builder("enilb.flow.events.lost", lostDaemon, AtomicLong::get)
                .tag("reason", "daemon").register(registry));
    }

    /** Safe twice. */
    @Override
    public Future<?> stop() {
        running.set(false);
        meters.forEach(registry::remove);
        meters.clear();
        Future<?> unregistered = Future.join(consumers.stream().map(MessageConsumer::unregister).toList());
        consumers.clear();
        Thread t = reader;
        reader = null;
        if (t == null) {
            return unregistered;
        }
        return Future.join(unregistered, vertx.executeBlocking(() -> {
            t.join(POLL_MS * 5L);
            return null;
        }));
    }
}
