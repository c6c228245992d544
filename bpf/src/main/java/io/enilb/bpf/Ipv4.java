package io.enilb.bpf;

/** IPv4 addresses as the int enilb keeps them in: the address's numeric value (198.19.0.1 = 0xC6130001). */
public final class Ipv4 {
    private Ipv4() {
    }

    /**
     * Parses a dotted quad (four parts of one to three ASCII digits, each at most 255); throws
     * IllegalArgumentException for anything else. Allocates nothing: nat-map parses every
     * backend address of every Service change (a million at a cold sync of 50 000 Services).
     */
    public static int parse(String text) {
        int value = 0;
        int parts = 0;
        int octet = 0;
        int digits = 0;
        for (int i = 0, n = text.length(); i <= n; i++) {
            char c = i < n ? text.charAt(i) : '.';
            if (c >= '0' && c <= '9' && digits < 3) {
                octet = octet * 10 + (c - '0');
                digits++;
            } else if (c == '.' && digits > 0 && octet <= 255 && parts < 4) {
                value = (value << 8) | octet;
                parts++;
                octet = 0;
                digits = 0;
            } else {
                throw new IllegalArgumentException("not an IPv4 address: " + text);
            }
        }
        if (parts != 4) {
            throw new IllegalArgumentException("not an IPv4 address: " + text);
        }
        return value;
    }

    public static String format(int address) {
        return ((address >>> 24) & 0xff) + "." + ((address >>> 16) & 0xff) + "."
                + ((address >>> 8) & 0xff) + "." + (address & 0xff);
    }
}
