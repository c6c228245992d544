package io.enilb.bpf;

import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;

/**
 * An IPv6 address as enilb keeps it: its 128 bits as two longs, {@code hi} the first 8 bytes in
 * network order (2001:db8:19::1 = hi 0x20010db800190000, lo 1). A record, so equal addresses are
 * equal keys; the codecs write it as a {@code struct in6_addr}.
 */
public record Ipv6(long hi, long lo) {

    /**
     * Parses an IPv6 literal (the JDK's parser: no name lookup for text with a colon); IPv4 text
     * and IPv4-mapped addresses are refused, IllegalArgumentException for anything else.
     */
    public static Ipv6 parse(String text) {
        if (text == null || text.indexOf(':') < 0 || text.indexOf('%') >= 0) {
            throw new IllegalArgumentException("not an IPv6 address: " + text);
        }
        InetAddress a;
        try {
            a = InetAddress.getByName(text);
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException("not an IPv6 address: " + text, e);
        }
        if (!(a instanceof Inet6Address)) {
            // the JDK turns ::ffff:a.b.c.d into an Inet4Address: that is an IPv4 address
            throw new IllegalArgumentException("not an IPv6 address (IPv4-mapped): " + text);
        }
        return of(a.getAddress());
    }

    /** The address in 16 bytes, network order. */
    public static Ipv6 of(byte[] bytes) {
        if (bytes.length != 16) {
            throw new IllegalArgumentException("an IPv6 address has 16 bytes, not " + bytes.length);
        }
        ByteBuffer b = ByteBuffer.wrap(bytes);
        return new Ipv6(b.getLong(0), b.getLong(8));
    }

    public byte[] bytes() {
        return ByteBuffer.allocate(16).putLong(hi).putLong(lo).array();
    }

    /** The mask of a prefix of {@code length} bits (0..128). */
    public static Ipv6 prefixMask(int length) {
        if (length < 0 || length > 128) {
            throw new IllegalArgumentException("prefix length " + length + " is not 0..128");
        }
        long hi = length == 0 ? 0 : length >= 64 ? -1L : -1L << (64 - length);
        long lo = length <= 64 ? 0 : length == 128 ? -1L : -1L << (128 - length);
        return new Ipv6(hi, lo);
    }

    public Ipv6 and(Ipv6 mask) {
        return new Ipv6(hi & mask.hi, lo & mask.lo);
    }

    /** RFC 5952 text: lower case, the longest run of two or more zero groups as "::". */
    @Override
    public String toString() {
        int[] g = new int[8];
        for (int i = 0; i < 8; i++) {
            g[i] = (int) (((i < 4 ? hi : lo) >>> (48 - 16 * (i % 4))) & 0xffff);
        }
        int bestStart = -1;
        int bestLen = 1;
        for (int i = 0; i < 8; ) {
            int j = i;
            while (j < 8 && g[j] == 0) {
                j++;
            }
            if (j - i > bestLen) {
                bestStart = i;
                bestLen = j - i;
            }
            i = j == i ? i + 1 : j;
        }
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < 8; i++) {
            if (i == bestStart) {
                s.append("::");
                i += bestLen - 1;
                continue;
            }
            if (s.length() > 0 && s.charAt(s.length() - 1) != ':') {
                s.append(':');
            }
            s.append(Integer.toHexString(g[i]));
        }
        return s.toString();
    }
}
