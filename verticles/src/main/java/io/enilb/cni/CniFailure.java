package io.enilb.cni;

/** A request that fails with a CNI error: the code, a message and details for the runtime's log. */
public final class CniFailure extends RuntimeException {
    private final int code;
    private final String details;

    public CniFailure(int code, String message, String details) {
        // expected outcomes, reported to the runtime: no stack trace
        super(message, null, false, false);
        this.code = code;
        this.details = details == null ? "" : details;
    }

    public CniFailure(int code, String message) {
        this(code, message, "");
    }

    /** The CNI error code ({@link CniWire#INVALID_CONFIG} ...). */
    public int code() {
        return code;
    }

    public String details() {
        return details;
    }
}
