package io.enilb.model;

/** Transport protocols enilb translates. SCTP is not handled (the watcher logs and skips it). */
public enum Protocol {
    TCP(6),
    UDP(17);

    /** IANA protocol number, as in the IPv4 header and in the BPF service key. */
    public final int number;

    Protocol(int number) {
        this.number = number;
    }

    public static Protocol fromNumber(int number) {
        for (Protocol p : values()) {
            if (p.number == number) {
                return p;
            }
        }
        throw new IllegalArgumentException("unsupported IP protocol " + number);
    }
}
