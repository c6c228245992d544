package io.enilb.attach;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The network namespaces CNI requests name. Every namespace file (a /proc/PID/ns/net link or a
 * bind mount under /run/netns) lives on the kernel's nsfs, whose device is the same for all of
 * them; so a path is a namespace when it is on the same device as our own /proc/self/ns/net, and
 * it is our own namespace when the inode is the same too. A bind-mount point whose namespace was
 * unmounted is a plain file again.
 */
final class NetworkNamespaces {
    private static final Path OWN = Path.of("/proc/self/ns/net");
    private static final Path PROC = Path.of("/proc");

    private final Path procRoot;

    /**
     * @param procRoot where the host's /proc is visible ({@code cni.proc-root}): a daemon in a
     *                 container that does not share the host's PID namespace sees host PIDs there
     */
    NetworkNamespaces(Path procRoot) {
        this.procRoot = procRoot;
    }

    /** The file to open for a CNI_NETNS: {@code /proc/PID/...} is read under the proc root. */
    Path resolve(String cniNetns) {
        Path given = Path.of(cniNetns).normalize();
        if (procRoot.equals(PROC) || !given.startsWith(PROC)) {
            return given;
        }
        return procRoot.resolve(PROC.relativize(given));
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

    /**
     * Whether {@code path} is enilbd's own network namespace: the host's, since the daemon runs on
     * the host network. Programs there would translate the node's own traffic. Blocking (stat).
     */
    static boolean isOwn(Path path) {
        try {
            return isNetns(path) && Files.getAttribute(OWN, "unix:ino").equals(Files.getAttribute(path, "unix:ino"));
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException | SecurityException e) {
            return false;
        }
    }

    /** A namespace enilb may take its programs off: a live one that is not its own. Blocking. */
    static boolean isPodNetns(Path path) {
        return isNetns(path) && !isOwn(path);
    }
}
