package io.enilb.bpf;

import jnr.constants.platform.Errno;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;

/** The loaded native libraries and the checks that turn their return codes into exceptions. */
public final class Bpf {
    private static volatile Bpf instance;

    final LibBpf lib;
    final LibC libc;
    final Runtime runtime;
    /** Held for as long as libbpf may call it (for ever): a collected callback would crash the JVM. */
    private final LibBpf.PrintFn printer;

    private Bpf() {
        try {
            lib = LibraryLoader.create(LibBpf.class).failImmediately().load("libbpf.so.1");
        } catch (UnsatisfiedLinkError e) {
            throw new BpfException("load libbpf.so.1", "not found; install libbpf1 (integration/setup.sh): "
                    + e.getMessage());
        }
        libc = LibraryLoader.create(LibC.class).failImmediately().load("c");
        runtime = Runtime.getRuntime(lib);
        printer = new LibBpfLog(this);
        lib.libbpf_set_print(printer);
    }

    /** The process-wide bindings, loaded on first use. */
    public static Bpf get() {
        Bpf b = instance;
        if (b == null) {
            synchronized (Bpf.class) {
                b = instance;
                if (b == null) {
                    b = new Bpf();
                    instance = b;
                }
            }
        }
        return b;
    }

    /** Throws for a negative libbpf return value (a negative errno). */
    int check(int rc, String operation) {
        if (rc < 0) {
            throw new BpfException(operation, -rc, null);
        }
        return rc;
    }

    /** Throws for a libc call that returned -1, with its saved errno. */
    int checkLibc(int rc, String operation) {
        if (rc == -1) {
            throw new BpfException(operation, lastErrno(), null);
        }
        return rc;
    }

    /** Throws for a NULL pointer result, with its saved errno. */
    Pointer checkPointer(Pointer p, String operation) {
        if (p == null || p.address() == 0) {
            throw new BpfException(operation, lastErrno(), null);
        }
        return p;
    }

    int lastErrno() {
        int e = runtime.getLastError();
        return e == 0 ? Errno.EINVAL.intValue() /* libbpf failed without saying why */ : e;
    }

    /** struct bpf_link_info's size as far as enilb reads it: type, id, prog_id, then the union at 16. */
    static final int LINK_INFO_SIZE = 64;

    /** What the kernel says of the link {@code linkFd} (struct bpf_link_info, {@link #LINK_INFO_SIZE} bytes). */
    Pointer linkInfo(int linkFd, String what) {
        Pointer info = allocate(LINK_INFO_SIZE);
        Pointer len = allocate(4);
        len.putInt(0, LINK_INFO_SIZE);
        check(lib.bpf_obj_get_info_by_fd(linkFd, info, len), "bpf_obj_get_info_by_fd " + what);
        return info;
    }

    Pointer allocate(int size) {
        return Memory.allocateDirect(runtime, size, true);
    }

    /** Number of possible CPUs: per-CPU maps hold one value slot per possible CPU. */
    public int possibleCpus() {
        return check(lib.libbpf_num_possible_cpus(), "libbpf_num_possible_cpus");
    }
}
