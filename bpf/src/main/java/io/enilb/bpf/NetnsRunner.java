package io.enilb.bpf;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Runs work inside another network namespace on a dedicated thread. setns(2) switches only the
 * calling thread, so the switch is confined to this thread, and every task returns it to the
 * namespace it started in, also on error. If returning ever fails the thread is discarded (a
 * fresh one, in the host namespace, takes its place) rather than left in a pod's namespace.
 */
public final class NetnsRunner implements AutoCloseable {
    private final Bpf bpf = Bpf.get();
    private final AtomicInteger threads = new AtomicInteger();
    private final ExecutorService executor = new ThreadPoolExecutor(1, 1, 0, TimeUnit.SECONDS,
            new LinkedBlockingQueue<>(), r -> {
                Thread t = new Thread(r, "enilb-netns-" + threads.incrementAndGet());
                t.setDaemon(true);
                return t;
            });

    /** Runs {@code work} with the thread inside the namespace at {@code netns}; blocks until done. */
    public <T> T call(Path netns, Callable<T> work) {
        try {
            return executor.submit(() -> inNamespace(netns, work)).get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BpfException("enter " + netns, "interrupted");
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

    private <T> T inNamespace(Path netns, Callable<T> work) throws Exception {
        int home = bpf.checkLibc(bpf.libc.open("/proc/thread-self/ns/net", LibC.O_RDONLY | LibC.O_CLOEXEC),
                "open /proc/thread-self/ns/net");
        try {
            int target = bpf.libc.open(netns.toString(), LibC.O_RDONLY | LibC.O_CLOEXEC);
            if (target == -1) {
                throw new BpfException("open network namespace " + netns, bpf.lastErrno(), null);
            }
            try {
                // EINVAL here means the file is not a network namespace
                bpf.checkLibc(bpf.libc.setns(target, LibC.CLONE_NEWNET), "setns " + netns);
            } finally {
                bpf.libc.close(target);
            }
            try {
                return work.call();
            } finally {
                if (bpf.libc.setns(home, LibC.CLONE_NEWNET) == -1) {
                    throw new StrandedThreadError("setns back to the host namespace failed: "
                            + BpfException.errnoName(bpf.lastErrno()) + "; discarding thread "
                            + Thread.currentThread().getName());
                }
            }
        } finally {
            bpf.libc.close(home);
        }
    }

    /** Thrown out of the task so that the executor replaces the thread that could not return. */
    static final class StrandedThreadError extends Error {
        StrandedThreadError(String message) {
            super(message);
        }
    }

    @Override
    public void close() {
        executor.shutdownNow();
    }
}
