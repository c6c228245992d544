package io.enilb.bpf;

import java.nio.file.Path;

import jnr.constants.platform.AddressFamily;
import jnr.constants.platform.Sock;
import jnr.constants.platform.SocketLevel;
import jnr.ffi.Pointer;

/**
 * Network namespace cookies: the 64-bit id the kernel gives a namespace for its lifetime,
 * never reused while the system runs. The datapath keys conntrack and the pod map by the
 * cookie of the pod's namespace ({@code pod_netns_cookie()} in bpf/include/netns.h); user
 * space learns it with getsockopt(SO_NETNS_COOKIE) on a socket opened inside the namespace.
 */
public final class Netns {
    private final NetnsRunner runner;

    /** Enters namespaces through {@code runner} (its dedicated thread). */
    public Netns(NetnsRunner runner) {
        this.runner = runner;
    }

    /**
     * The cookie of the namespace at {@code netns} (e.g. /var/run/netns/x or /proc/PID/ns/net).
     * Blocks; never call it on an event loop.
     *
     * @throws BpfException when the namespace cannot be entered
     */
    public long cookieOf(Path netns) {
        return runner.call(netns, Netns::currentCookie);
    }

    /** The cookie of the calling thread's network namespace. */
    public static long currentCookie() {
        Bpf bpf = Bpf.get();
        int fd = bpf.checkLibc(bpf.libc.socket(AddressFamily.AF_INET.intValue(), Sock.SOCK_DGRAM.intValue(), 0),
                "socket for SO_NETNS_COOKIE");
        try {
            Pointer value = bpf.allocate(8);
            Pointer length = bpf.allocate(4);
            length.putInt(0, 8);
            bpf.checkLibc(bpf.libc.getsockopt(fd, SocketLevel.SOL_SOCKET.intValue(), LibC.SO_NETNS_COOKIE, value, length),
                    "getsockopt SO_NETNS_COOKIE (Linux 5.14 or later)");
            return value.getLong(0);
        } finally {
            bpf.libc.close(fd);
        }
    }
}
