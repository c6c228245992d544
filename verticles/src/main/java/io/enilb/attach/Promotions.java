package io.enilb.attach;

import java.time.Duration;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Function;

import io.enilb.bus.PodAttachment;
import io.vertx.core.Future;
import io.vertx.core.Vertx;

/**
 * The attached pods waiting to move to where the datapath prefers their programs
 * ({@link io.enilb.bpf.PodDatapath#promote}: tcx links), moved one at a time once no CNI request
 * has come for {@code quiet}. A move holds the kernel's rtnl lock through RCU grace periods (tens
 * of milliseconds a pod), and every ADD's attach needs that lock too: a storm of ADDs is served
 * first, and its pods move after it, in the order they came. Until then they run on what ADD
 * attached (clsact filters), which translates the same. Event loop only.
 */
final class Promotions {
    private final Vertx vertx;
    private final long quietNanos;
    private final Function<PodAttachment, Future<?>> move;
    /** Waiting pods by attachment key, in the order they came. */
    private final Map<String, PodAttachment> waiting = new LinkedHashMap<>();
    private long lastRequest = System.nanoTime();
    private boolean moving;
    private long timer = -1;
    private boolean stopped;

    /**
     * @param quiet how long the CNI socket must have had no request before a move starts
     * @param move  moves one pod; the next waits until its future completes
     */
    Promotions(Vertx vertx, Duration quiet, Function<PodAttachment, Future<?>> move) {
        this.vertx = vertx;
        this.quietNanos = quiet.toNanos();
        this.move = move;
    }

    /** A CNI request came: moves wait for the socket to be quiet again. */
    void requestSeen() {
        lastRequest = System.nanoTime();
    }

    /** {@code pod} (attachment {@code key}) waits for its move; a pod waiting already keeps its place. */
    void add(String key, PodAttachment pod) {
        waiting.putIfAbsent(key, pod);
        next();
    }

    /** The pod of {@code key} no longer moves (deleted). */
    void remove(String key) {
        waiting.remove(key);
    }

    /** Pods waiting, not counting one moving; read by the metrics scrape from another thread (a size, racy by a pod). */
    int waiting() {
        return waiting.size();
    }

    /** No move starts any more; one under way finishes. */
    void stop() {
        stopped = true;
        waiting.clear();
        if (timer >= 0) {
            vertx.cancelTimer(timer);
            timer = -1;
        }
    }

    private void next() {
        if (stopped || moving || waiting.isEmpty() || timer >= 0) {
            return;
        }
        long quietFor = System.nanoTime() - lastRequest;
        if (quietFor < quietNanos) {
            timer = vertx.setTimer(Math.max(1, (quietNanos - quietFor) / 1_000_000), id -> {
                timer = -1;
                next();
            });
            return;
        }
        Iterator<PodAttachment> first = waiting.values().iterator();
        PodAttachment pod = first.next();
        first.remove();
        moving = true;
        move.apply(pod).onComplete(done -> {
            moving = false;
            next();
        });
    }
}
