package io.enilb.bpf;

/**
 * How enilb's programs go on a pod's devices ({@code bpf.tc-attach}). TCX: as tcx links (Linux
 * 6.6 and later), which spare every packet the clsact qdisc and the classifier; CLSACT: as
 * cls_bpf filters of a clsact qdisc, which every kernel enilb runs on has; AUTO: tcx where the
 * kernel has it, else clsact.
 */
public enum TcAttach {
    AUTO("auto"), TCX("tcx"), CLSACT("clsact");

    /** As written in the configuration. */
    public final String value;

    TcAttach(String value) {
        this.value = value;
    }

    /** The mode written {@code value}; IllegalArgumentException for anything else. */
    public static TcAttach of(String value) {
        for (TcAttach mode : values()) {
            if (mode.value.equals(value)) {
                return mode;
            }
        }
        throw new IllegalArgumentException("expected auto, tcx or clsact, got '" + value + "'");
    }
}
