package io.enilb.attach;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Tells whether a path names a live network namespace. Every namespace file (a /proc/PID/ns/net
 * link or a bind mount under /run/netns) lives on the kernel's nsfs, whose device is the same for
 * all of them; so a path is a namespace when it is on the same device as our own
 * /proc/self/ns/net. A bind-mount point whose namespace was unmounted is a plain file again.
 */
final class NetworkNamespaces {
    private static final Path OWN = Path.of("/proc/self/ns/net");

    private NetworkNamespaces() {
    }

    /**
     * Whether {@code path} exists and is a namespace (nsfs) file. nsfs holds every kind of
     * namespace; a file of another kind is refused by setns(2) when the datapath enters it.
     * Blocking (stat).
     */
    static boolean isNetns(Path path) {
        try {
            return Files.isRegularFile(path)
                    && Files.getAttribute(OWN, "unix:dev").equals(Files.getAttribute(path, "unix:dev"));
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException | SecurityException e) {
            return false;
        }
    }
}
