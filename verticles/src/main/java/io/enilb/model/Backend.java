package io.enilb.model;

import java.util.Comparator;
import java.util.Objects;

/**
 * One endpoint of one Service port, after Kubernetes semantics were applied. Immutable.
 *
 * <p>There is one per backend (500 000 at 50 000 Services), and the nat-map writer's desired
 * state refers to these instances instead of copying them, so it is kept small: the address as
 * {@link AddressBits} (two longs, no String) and the port and state in one int. 32 bytes each.
 */
public final class Backend {
    public enum State { ACTIVE, TERMINATING }

    /** By address (numerically, within a family), then port: the order of a Service port's backends. */
    public static final Comparator<Backend> ENDPOINT_ORDER = (a, b) -> {
        int c = AddressBits.compare(a.addressHigh, a.addressLow, b.addressHigh, b.addressLow);
        return c != 0 ? c : Integer.compare(a.port(), b.port());
    };

    private static final int TERMINATING_BIT = 1 << 16;

    private final long addressHigh;
    private final long addressLow;
    /** the port in the low 16 bits, {@link #TERMINATING_BIT} when TERMINATING */
    private final int portAndState;

    private Backend(long addressHigh, long addressLow, int port, State state) {
        Objects.requireNonNull(state, "state");
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("backend port out of range: " + port);
        }
        this.addressHigh = addressHigh;
        this.addressLow = addressLow;
        this.portAndState = port | (state == State.TERMINATING ? TERMINATING_BIT : 0);
    }

    /**
     * @param ip    the address, IPv4 or IPv6 text ({@link IpFamily#canonical}'s rules)
     * @param port  target port on the endpoint
     * @param state ACTIVE takes new flows; TERMINATING keeps its established flows and takes no new ones
     */
    public Backend(String ip, int port, State state) {
        this(parse(ip), port, state);
    }

    private Backend(byte[] address, int port, State state) {
        this(AddressBits.high(address), AddressBits.low(address), port, state);
    }

    /** A backend whose address is given as {@link AddressBits}. */
    public static Backend of(long addressHigh, long addressLow, int port, State state) {
        return new Backend(addressHigh, addressLow, port, state);
    }

    /** The address in canonical text (made on each call: the backend keeps bits, not text). */
    public String ip() {
        return AddressBits.text(addressHigh, addressLow);
    }

    public IpFamily family() {
        return AddressBits.family(addressHigh, addressLow);
    }

    /** The high long of the address ({@link AddressBits}). */
    public long addressHigh() {
        return addressHigh;
    }

    /** The low long of the address ({@link AddressBits}). */
    public long addressLow() {
        return addressLow;
    }

    public int port() {
        return portAndState & 0xFFFF;
    }

    public State state() {
        return (portAndState & TERMINATING_BIT) != 0 ? State.TERMINATING : State.ACTIVE;
    }

    /** This backend in {@code state}: itself when it is in that state already. */
    public Backend withState(State state) {
        return state == state() ? this : new Backend(addressHigh, addressLow, port(), state);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Backend b && addressHigh == b.addressHigh && addressLow == b.addressLow
                && portAndState == b.portAndState;
    }

    @Override
    public int hashCode() {
        return Long.hashCode(addressHigh) * 961 + Long.hashCode(addressLow) * 31 + portAndState;
    }

    @Override
    public String toString() {
        return ip() + ":" + port() + (state() == State.TERMINATING ? " (terminating)" : "");
    }

    private static byte[] parse(String ip) {
        byte[] address = AddressBits.parse(Objects.requireNonNull(ip, "ip"));
        if (address == null) {
            throw new IllegalArgumentException("backend address is not an IP address: " + ip);
        }
        return address;
    }
}
