package io.enilb.flows;

import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

import io.enilb.bus.Addresses;
import io.enilb.bus.Flow;
import io.enilb.bus.RecentFlows;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code GET /v1/flows}, mounted on the health server's router; talks to {@link FlowsVerticle}
 * over the event bus only.
 *
 * <ul>
 *   <li>without {@code follow}: the recent events that match, oldest first, and the lost counts;</li>
 *   <li>{@code ?follow=true}: those, then every new one as it happens, as JSON lines
 *       ({@code application/x-ndjson}) or as Server-Sent Events ({@code Accept: text/event-stream}
 *       or {@code ?format=sse}).</li>
 * </ul>
 * Filters: see {@link FlowFilter}. A follower that reads slower than events come gets a
 * {@code {"skipped":N}} line instead of the events that did not fit its write queue: nothing
 * is buffered per client beyond {@link #WRITE_QUEUE_BYTES}, and at most {@link #MAX_FOLLOWERS}
 * follow at once.
 */
public final class FlowsHttp {
    private static final Logger LOG = LoggerFactory.getLogger(FlowsHttp.class);
    static final int MAX_FOLLOWERS = 16;
    static final int WRITE_QUEUE_BYTES = 256 * 1024;
    /** Events that arrive while the recent ones are fetched, held until those are written. */
    private static final int PENDING_MAX = 4096;
    private static final long SSE_KEEPALIVE_MS = 15_000;
    private static final String JSON = "application/json";

    private final AtomicInteger followers = new AtomicInteger();

    private FlowsHttp() {
    }

    /** What adds the route to a router: {@code healthVerticle.mount(FlowsHttp.routes())}. */
    public static Consumer<Router> routes() {
        FlowsHttp http = new FlowsHttp();
        return router -> router.get("/v1/flows").handler(http::handle);
    }

    private void handle(RoutingContext ctx) {
        FlowFilter filter;
        String follow = ctx.queryParams().get("follow");
        try {
            filter = FlowFilter.parse(ctx.queryParams(), Instant.now());
            if (follow != null && !follow.equals("true") && !follow.equals("false")) {
                throw new IllegalArgumentException("follow: true or false, not " + follow);
            }
        } catch (IllegalArgumentException e) {
            error(ctx.response(), 400, e.getMessage());
            return;
        }
        if ("true".equals(follow)) {
            follow(ctx, filter);
        } else {
            recent(ctx.vertx()).onSuccess(recent -> {
                JsonArray flows = new JsonArray();
                recent.flows().stream().filter(filter::matches).forEach(f -> flows.add(f.toJson()));
                ctx.response().putHeader("content-type", JSON)
                        .end(new JsonObject().put("flows", flows).put("lost", lost(recent)).encodePrettily());
            }).onFailure(e -> error(ctx.response(), 503, "flow events are not available: " + e.getMessage()));
        }
    }

    private static io.vertx.core.Future<RecentFlows> recent(Vertx vertx) {
        return vertx.eventBus().<RecentFlows>request(Addresses.FLOWS_RECENT, "").map(m -> m.body());
    }

    private static JsonObject lost(RecentFlows r) {
        return new JsonObject().put("rate", r.lostRate()).put("ringFull", r.lostRing()).put("daemon", r.lostDaemon());
    }

    private void follow(RoutingContext ctx, FlowFilter filter) {
        HttpServerResponse response = ctx.response();
        if (followers.incrementAndGet() > MAX_FOLLOWERS) {
            followers.decrementAndGet();
            error(response, 503, "already " + MAX_FOLLOWERS + " clients follow the flows; try again later");
            return;
        }
        String accept = ctx.request().getHeader("accept");
        boolean sse = "sse".equals(ctx.queryParams().get("format")) || (accept != null && accept.contains("text/event-stream"));
        Stream stream = new Stream(ctx.vertx(), response, filter, sse);
        response.setChunked(true).setWriteQueueMaxSize(WRITE_QUEUE_BYTES)
                .putHeader("content-type", sse ? "text/event-stream" : "application/x-ndjson")
                .putHeader("cache-control", "no-cache");
        response.closeHandler(v -> stream.close());
        response.exceptionHandler(e -> stream.close());
        stream.start();
    }

    /** One follower: the consumer first, then the recent events, then the live ones. */
    private final class Stream {
        private final Vertx vertx;
        private final HttpServerResponse response;
        private final FlowFilter filter;
        private final boolean sse;
        private MessageConsumer<Flow> consumer;
        private List<Flow> pending = new ArrayList<>();
        private long skipped;
        private long keepalive = -1;
        private boolean closed;

        Stream(Vertx vertx, HttpServerResponse response, FlowFilter filter, boolean sse) {
            this.vertx = vertx;
            this.response = response;
            this.filter = filter;
            this.sse = sse;
        }

        void start() {
            consumer = vertx.eventBus().localConsumer(Addresses.FLOWS, m -> live(m.body()));
            consumer.completion().compose(v -> recent(vertx)).onComplete(done -> {
                if (closed) {
                    return;
                }
                if (done.failed()) {
                    error(response, 503, "flow events are not available: " + done.cause().getMessage());
                    close();
                    return;
                }
                // the same Flow objects travel by reference: what the ring already had is not repeated
                Set<Flow> seen = Collections.newSetFromMap(new IdentityHashMap<>());
                for (Flow f : done.result().flows()) {
                    seen.add(f);
                    emit(f);
                }
                List<Flow> early = pending;
                pending = null;
                early.stream().filter(f -> !seen.contains(f)).forEach(this::emit);
                if (sse) {
                    keepalive = vertx.setPeriodic(SSE_KEEPALIVE_MS, id -> write(": keepalive\n\n"));
                }
            });
        }

        private void live(Flow f) {
            if (pending == null) {
                emit(f);
            } else if (pending.size() < PENDING_MAX) {
                pending.add(f);
            } else {
                skipped++;
            }
        }

        private void emit(Flow f) {
            if (closed || !filter.matches(f)) {
                return;
            }
            if (response.writeQueueFull()) {
                skipped++;
                return;
            }
            if (skipped > 0) {
                write(frame("skipped", new JsonObject().put("skipped", skipped)));
                skipped = 0;
            }
            write(frame("flow", f.toJson()));
        }

        private String frame(String event, JsonObject json) {
            return sse ? "event: " + event + "\ndata: " + json.encode() + "\n\n" : json.encode() + "\n";
        }

        private void write(String text) {
            if (!closed) {
                response.write(text).onFailure(e -> close());
            }
        }

        /** The client went away (or the stream failed): nothing stays behind. Safe twice. */
        void close() {
            if (closed) {
                return;
            }
            closed = true;
            followers.decrementAndGet();
            if (keepalive >= 0) {
                vertx.cancelTimer(keepalive);
            }
            if (consumer != null) {
                consumer.unregister();
            }
            LOG.debug("a /v1/flows follower left");
        }
    }

    private static void error(HttpServerResponse response, int status, String message) {
        if (!response.headWritten()) {
            response.setStatusCode(status).putHeader("content-type", JSON)
                    .end(new JsonObject().put("error", message).encode());
        } else if (!response.ended()) {
            response.end();
        }
    }
}
