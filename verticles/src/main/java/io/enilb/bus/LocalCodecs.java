package io.enilb.bus;

import io.vertx.core.buffer.Buffer;
import io.vertx.core.eventbus.EventBus;
import io.vertx.core.eventbus.MessageCodec;

/** Registers pass-by-reference codecs for the immutable records that travel on the event bus. */
public final class LocalCodecs {
    private LocalCodecs() {
    }

    /** Registers the codec of every payload class; safe to call more than once per event bus. */
    public static synchronized void register(EventBus bus) {
        for (Class<?> type : new Class<?>[] {
                io.enilb.model.ServiceChange.class, SyncState.class, PodAttachment.class, Readiness.class,
                SourceState.class, BatchWritten.class, Liveness.class, Flow.class, RecentFlows.class}) {
            registerOne(bus, type);
        }
    }

    private static <T> void registerOne(EventBus bus, Class<T> type) {
        try {
            bus.registerDefaultCodec(type, new LocalCodec<>(type));
        } catch (IllegalStateException alreadyRegistered) {
            // another verticle of this Vert.x instance registered it first
        }
    }

    /** Hands the same immutable object to the consumer; never serialized (local delivery only). */
    private static final class LocalCodec<T> implements MessageCodec<T, T> {
        private final Class<T> type;

        LocalCodec(Class<T> type) {
            this.type = type;
        }

        @Override
        public void encodeToWire(Buffer buffer, T t) {
            throw new UnsupportedOperationException(type.getSimpleName() + " is local only");
        }

        @Override
        public T decodeFromWire(int pos, Buffer buffer) {
            throw new UnsupportedOperationException(type.getSimpleName() + " is local only");
        }

        @Override
        public T transform(T t) {
            return t;
        }

        @Override
        public String name() {
            return "local-" + type.getName();
        }

        @Override
        public byte systemCodecID() {
            return -1;
        }
    }
}
