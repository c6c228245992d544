package io.enilb.bpf;

import jnr.constants.platform.Errno;

/** A failed native operation: which operation, on what, and the errno name (EPERM, E2BIG, ENOENT ...). */
public class BpfException extends RuntimeException {
    private final String operation;
    private final int errno;

    public BpfException(String operation, int errno, String detail) {
        super(operation + ": " + errnoName(errno) + (detail == null || detail.isEmpty() ? "" : " (" + detail + ")"));
        this.operation = operation;
        this.errno = errno;
    }

    public BpfException(String operation, String message) {
        super(operation + ": " + message);
        this.operation = operation;
        this.errno = 0;
    }

    /** The operation that failed, e.g. {@code bpf_tc_attach enilb_egress on eth0}. */
    public String operation() {
        return operation;
    }

    /** Positive errno, 0 when the failure did not come from the kernel or libc. */
    public int errno() {
        return errno;
    }

    public String errnoName() {
        return errnoName(errno);
    }

    public static String errnoName(int errno) {
        int e = Math.abs(errno);
        Errno known = Errno.valueOf(e);
        return known == null || known == Errno.__UNKNOWN_CONSTANT__ ? "errno " + e : known.name();
    }
}
