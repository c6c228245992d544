package io.enilb.bpf;

import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs work inside another network namespace on a dedicated thread. setns(2) switches only the
 * calling thread, so the switch is confined to this thread, and every task returns it to the
 * host namespace (the process's, opened once when the runner is made), also on error.
 *
 * <p>If returning fails the thread is discarded: the task's caller gets the error, the thread
 * ends, and a fresh one takes its place. A new thread starts in the namespace of the thread that
 * creates it (here the stranded one), so every thread first enters the host namespace itself.
 */
public final class NetnsRunner implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(NetnsRunner.class);
    /** Longer than any tc or netlink call takes; a task still running then is stuck in the kernel. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(10);

    /** setns(2), replaceable in tests to make the return to the host namespace fail. */
    interface Setns {
        int setns(int fd, int nstype);
    }

    private final Bpf bpf = Bpf.get();
    private final Setns setns;
    private final Duration timeout;
    private final int hostNs;
    private final AtomicInteger threads = new AtomicInteger();
    private final ThreadPoolExecutor executor;

    public NetnsRunner() {
        this(DEFAULT_TIMEOUT);
    }

    public NetnsRunner(Duration timeout) {
        this(timeout, null);
    }

    NetnsRunner(Duration timeout, Setns setns) {
        this.timeout = timeout;
        this.setns = setns != null ? setns : (fd, type) -> bpf.libc.setns(fd, type);
        this.hostNs = bpf.checkLibc(bpf.libc.open("/proc/self/ns/net", LibC.O_RDONLY | LibC.O_CLOEXEC),
                "open /proc/self/ns/net");
        this.executor = new ThreadPoolExecutor(1, 1, 0, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
                this::newThread);
    }

    private Thread newThread(Runnable worker) {
        Thread t = new Thread(() -> {
            // born in its creator's namespace, which may be a pod's (a replaced thread's)
            if (bpf.libc.setns(hostNs, LibC.CLONE_NEWNET) == -1) {
                LOG.error("netns thread cannot enter the host namespace: {}; not running tasks",
                        BpfException.errnoName(bpf.lastErrno()));
                return;
            }
            worker.run();
        }, "enilb-netns-" + threads.incrementAndGet());
        t.setDaemon(true);
        // a discarded thread ends with StrandedThreadError: its message, already logged, is enough
        t.setUncaughtExceptionHandler((thread, e) -> {
            if (!(e instanceof StrandedThreadError)) {
                LOG.error("netns thread {} died: {}", thread.getName(), e.toString());
            }
        });
        return t;
    }

    /**
     * Runs {@code work} with the thread inside the namespace at {@code netns}; blocks until done,
     * at most the runner's timeout (the work then still finishes on its thread).
     */
    public <T> T call(Path netns, Callable<T> work) {
        CompletableFuture<T> result = new CompletableFuture<>();
        try {
            executor.execute(() -> run(netns, work, result));
        } catch (RejectedExecutionException e) {
            throw new BpfException("enter " + netns, "the namespace runner is closed");
        }
        try {
            return result.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BpfException("enter " + netns, "interrupted");
        } catch (TimeoutException e) {
            throw new BpfException("in " + netns, "timed out after " + timeout.toMillis() + " ms");
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof RuntimeException re) {
                throw re;
            }
            if (cause instanceof Error err) {
                throw err;
            }
            throw new BpfException("in " + netns, cause.toString());
        }
    }

    /** One task on the namespace thread; a failed return completes the task and ends the thread. */
    private <T> void run(Path netns, Callable<T> work, CompletableFuture<T> result) {
        int target = bpf.libc.open(netns.toString(), LibC.O_RDONLY | LibC.O_CLOEXEC);
        if (target == -1) {
            result.completeExceptionally(new BpfException("open network namespace " + netns, bpf.lastErrno(), null));
            return;
        }
        try {
            // EINVAL here means the file is not a network namespace
            if (setns.setns(target, LibC.CLONE_NEWNET) == -1) {
                result.completeExceptionally(new BpfException("setns " + netns, bpf.lastErrno(), null));
                return;
            }
        } finally {
            bpf.libc.close(target);
        }
        T value = null;
        Throwable failure = null;
        try {
            value = work.call();
        } catch (Throwable e) {
            failure = e;
        }
        if (setns.setns(hostNs, LibC.CLONE_NEWNET) == -1) {
            String why = "setns back to the host namespace failed: " + BpfException.errnoName(bpf.lastErrno())
                    + "; discarding thread " + Thread.currentThread().getName();
            LOG.error("after a task in {}: {}", netns, why);
            result.completeExceptionally(new BpfException("leave " + netns, why));
            // out of the executor's worker: it replaces the thread before the next task
            throw new StrandedThreadError(why);
        }
        if (failure != null) {
            result.completeExceptionally(failure);
        } else {
            result.complete(value);
        }
    }

    /** Ends a thread that could not return to the host namespace, so that none of its tasks runs there. */
    static final class StrandedThreadError extends Error {
        StrandedThreadError(String message) {
            super(message, null, false, false);
        }
    }

    @Override
    public void close() {
        if (executor.isShutdown()) {
            return;
        }
        executor.shutdownNow();
        try {
            // a task still running must be able to return home before the descriptor goes
            executor.awaitTermination(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        bpf.libc.close(hostNs);
    }
}
