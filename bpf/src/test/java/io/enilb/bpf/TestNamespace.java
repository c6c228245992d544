package io.enilb.bpf;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/** A named network namespace (/run/netns) a test makes and removes; tools run in it through nsenter. */
final class TestNamespace implements AutoCloseable {
    private static final AtomicInteger SEQUENCE = new AtomicInteger();
    private final String name = "enilb-t" + ProcessHandle.current().pid() + "-" + SEQUENCE.incrementAndGet();

    TestNamespace() {
        run("ip", "netns", "add", name);
        exec("ip", "link", "set", "lo", "up");
    }

    Path path() {
        return Path.of("/run/netns", name);
    }

    /** Runs a command inside the namespace; returns its stdout, throws on a non-zero exit. */
    String exec(String... command) {
        List<String> full = new ArrayList<>(List.of("nsenter", "--net=" + path()));
        full.addAll(List.of(command));
        return run(full.toArray(String[]::new));
    }

    /** A file of /proc/sys/net as the namespace sees it. */
    String sysctl(String relative) {
        return exec("cat", "/proc/sys/net/" + relative).strip();
    }

    static String run(String... command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
                throw new IllegalStateException(String.join(" ", command) + " failed: " + out);
            }
            return out;
        } catch (IOException e) {
            throw new IllegalStateException(String.join(" ", command) + ": " + e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted");
        }
    }

    /** The nsfs inode of a namespace file: equal inodes are the same namespace. */
    static Object inode(Path nsFile) throws IOException {
        return Files.getAttribute(nsFile, "unix:ino");
    }

    @Override
    public void close() {
        run("ip", "netns", "del", name);
    }
}
