package io.enilb.model;

import com.google.common.net.InetAddresses;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;

/**
 * An address of either family as two longs, the way enilb keeps the addresses it holds one of per
 * endpoint (500 000 at 50 000 Services): {@code high} the first 8 bytes of the 16-byte form in
 * network order, {@code low} the last 8. IPv4 a.b.c.d is held as its IPv4-mapped form
 * ::ffff:a.b.c.d, which no endpoint of the IPv6 family can be ({@link IpFamily#canonical} refuses
 * IPv4-mapped text), so the bits alone tell the family. As text, an address takes a String and
 * its byte array (about 56 bytes for a dotted quad); as bits it takes 16 bytes and no object.
 */
public final class AddressBits {
    /** The high 32 bits of {@code low} for an IPv4-mapped address. */
    private static final long V4_MAPPED = 0xFFFFL << 32;

    private AddressBits() {
    }

    /**
     * The 4 (IPv4) or 16 (IPv6) bytes of an address, network order, by {@link IpFamily#canonical}'s
     * rules (surrounding blanks ignored; names, zone ids and IPv4-mapped IPv6 refused): null for
     * anything that is not a plain address.
     */
    public static byte[] parse(String text) {
        if (text == null) {
            return null;
        }
        String trimmed = text.trim();
        if (trimmed.indexOf('%') >= 0) {
            return null;
        }
        byte[] dottedQuad = dottedQuad(trimmed);
        if (dottedQuad != null) {
            return dottedQuad;
        }
        InetAddress address;
        try {
            // parsed once (isInetAddress would parse it a first time): one per endpoint of every slice listed
            address = InetAddresses.forString(trimmed);
        } catch (IllegalArgumentException notAnAddress) {
            return null;
        }
        boolean v6Text = trimmed.indexOf(':') >= 0;
        if (v6Text != address instanceof Inet6Address) {
            return null;
        }
        return address.getAddress();
    }

    /**
     * The 4 bytes of a plain dotted quad (four octets of 1 – 3 ASCII digits up to 255, no leading
     * zero), else null and Guava decides. This is the text of nearly every endpoint, and
     * {@code InetAddresses.forString} makes an {@code InetAddress} and more arrays for each (a fifth
     * of what the informers' threads allocated during a churn at 50 000 Services, by JFR's
     * allocation samples); what it accepts here Guava accepts with the same bytes, so the rules stay
     * Guava's.
     */
    private static byte[] dottedQuad(String text) {
        byte[] out = new byte[4];
        int part = 0;
        int octet = 0;
        int digits = 0;
        for (int i = 0, n = text.length(); i <= n; i++) {
            char c = i < n ? text.charAt(i) : '.';
            if (c >= '0' && c <= '9' && digits < 3 && !(digits == 1 && octet == 0)) {
                octet = octet * 10 + (c - '0');
                digits++;
            } else if (c == '.' && digits > 0 && octet <= 255 && part < 4) {
                out[part++] = (byte) octet;
                octet = 0;
                digits = 0;
            } else {
                return null;
            }
        }
        return part == 4 ? out : null;
    }

    /** The high long of an address of 4 or 16 bytes (0 for IPv4). */
    public static long high(byte[] address) {
        return address.length == 4 ? 0 : longAt(address, 0);
    }

    /** The low long of an address of 4 or 16 bytes (::ffff:a.b.c.d for IPv4). */
    public static long low(byte[] address) {
        if (address.length == 4) {
            return ipv4Low(intAt(address));
        }
        return longAt(address, 8);
    }

    /** The low long of an IPv4 address given as an int in network order (its high long is 0). */
    public static long ipv4Low(int address) {
        return V4_MAPPED | Integer.toUnsignedLong(address);
    }

    /** The family of an address held as bits. */
    public static IpFamily family(long high, long low) {
        return high == 0 && (low & 0xFFFF_FFFF_0000_0000L) == V4_MAPPED ? IpFamily.IPV4 : IpFamily.IPV6;
    }

    /** The IPv4 address of bits of the IPv4 family, as an int in network order (the maps' be32). */
    public static int ipv4(long high, long low) {
        if (family(high, low) != IpFamily.IPV4) {
            throw new IllegalArgumentException(text(high, low) + " is not an IPv4 address");
        }
        return (int) low;
    }

    /** The canonical text of an address ({@link IpFamily#canonical}). */
    public static String text(long high, long low) {
        byte[] bytes;
        if (family(high, low) == IpFamily.IPV4) {
            int v4 = (int) low;
            bytes = new byte[] {(byte) (v4 >>> 24), (byte) (v4 >>> 16), (byte) (v4 >>> 8), (byte) v4};
        } else {
            bytes = new byte[16];
            for (int i = 0; i < 8; i++) {
                bytes[i] = (byte) (high >>> (56 - 8 * i));
                bytes[8 + i] = (byte) (low >>> (56 - 8 * i));
            }
        }
        try {
            return InetAddresses.toAddrString(InetAddress.getByAddress(bytes));
        } catch (UnknownHostException impossible) {
            throw new IllegalStateException(impossible);
        }
    }

    /** Orders addresses of one family numerically (the 4 or 16 bytes compared unsigned). */
    public static int compare(long high1, long low1, long high2, long low2) {
        int c = Long.compareUnsigned(high1, high2);
        return c != 0 ? c : Long.compareUnsigned(low1, low2);
    }

    private static long longAt(byte[] b, int offset) {
        long v = 0;
        for (int i = 0; i < 8; i++) {
            v = (v << 8) | (b[offset + i] & 0xFF);
        }
        return v;
    }

    private static int intAt(byte[] b) {
        return ((b[0] & 0xFF) << 24) | ((b[1] & 0xFF) << 16) | ((b[2] & 0xFF) << 8) | (b[3] & 0xFF);
    }
}
