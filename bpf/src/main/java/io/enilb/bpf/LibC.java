package io.enilb.bpf;

import jnr.ffi.Pointer;
import jnr.ffi.annotations.In;
import jnr.ffi.annotations.Out;
import jnr.ffi.annotations.SaveError;
import jnr.ffi.types.size_t;
import jnr.ffi.types.ssize_t;

/** libc, the few functions enilb needs, named exactly as in C. They return -1 and set errno on failure. */
public interface LibC {
    int O_RDONLY = 0;
    int O_CLOEXEC = 0x80000;
    int O_DIRECTORY = 0x10000;
    int CLONE_NEWNET = 0x40000000;
    /** asm-generic/socket.h (Linux 5.14); too new for jnr-constants. */
    int SO_NETNS_COOKIE = 71;
    int AF_NETLINK = 16;
    int SOCK_RAW = 3;
    int SOCK_CLOEXEC = 0x80000;
    int NETLINK_ROUTE = 0;

    @SaveError
    int open(String path, int flags);

    @SaveError
    int close(int fd);

    @SaveError
    int setns(int fd, int nstype);

    /** 0 when there is no such interface (errno ENODEV) in the calling thread's namespace. */
    @SaveError
    int if_nametoindex(String ifname);

    /** Formats a va_list handed over by a C callback (libbpf's print function). */
    int vsnprintf(@Out Pointer buffer, long size, String format, Pointer args);

    /** A netlink socket belongs to the network namespace of the thread that creates it. */
    @SaveError
    int socket(int domain, int type, int protocol);

    @SaveError
    int getsockopt(int sockfd, int level, int optname, @Out Pointer optval, Pointer optlen);

    @SaveError
    @ssize_t
    long send(int sockfd, @In byte[] buf, @size_t long len, int flags);

    @SaveError
    @ssize_t
    long recv(int sockfd, @Out byte[] buf, @size_t long len, int flags);
}
