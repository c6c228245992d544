package io.enilb.bpf;

import java.nio.ByteBuffer;
import java.util.Arrays;

/** Builds Ethernet/IPv4/TCP|UDP frames for the packet tables and checks their checksums. */
public final class Packets {
    public static final int ETH = 14;
    public static final int IP = 20;
    public static final byte[] POD_MAC = {0x02, 0, 0, 0, 0, 0x0a};
    public static final byte[] GW_MAC = {0x02, 0, 0, 0, 0, 0x01};
    public static final int TCP = 6;
    public static final int UDP = 17;
    public static final int ICMP = 1;
    public static final int SYN = 0x02;
    public static final int ACK = 0x10;

    private Packets() {
    }

    /** A TCP segment with the given flags and payload, all checksums correct. */
    public static byte[] tcp(String src, int sport, String dst, int dport, int flags, String payload) {
        byte[] data = payload.getBytes();
        ByteBuffer l4 = ByteBuffer.allocate(20 + data.length);
        l4.putShort((short) sport).putShort((short) dport).putInt(1000).putInt(flags == SYN ? 0 : 2000);
        l4.put((byte) 0x50).put((byte) flags).putShort((short) 65535).putShort((short) 0).putShort((short) 0);
        l4.put(data);
        return frame(src, dst, TCP, l4.array(), 16);
    }

    /** A UDP datagram; with {@code zeroChecksum} its checksum is 0 (none), as IPv4 allows. */
    public static byte[] udp(String src, int sport, String dst, int dport, String payload, boolean zeroChecksum) {
        byte[] data = payload.getBytes();
        ByteBuffer l4 = ByteBuffer.allocate(8 + data.length);
        l4.putShort((short) sport).putShort((short) dport).putShort((short) (8 + data.length)).putShort((short) 0);
        l4.put(data);
        return frame(src, dst, UDP, l4.array(), zeroChecksum ? -1 : 6);
    }

    /** An IPv4 frame around {@code l4}; the L4 checksum at {@code csumAt} (or none when negative). */
    public static byte[] frame(String src, String dst, int proto, byte[] l4, int csumAt) {
        ByteBuffer b = ByteBuffer.allocate(ETH + IP + l4.length);
        b.put(GW_MAC).put(POD_MAC).putShort((short) 0x0800);
        b.put((byte) 0x45).put((byte) 0).putShort((short) (IP + l4.length)).putShort((short) 0x1234)
                .putShort((short) 0x4000).put((byte) 64).put((byte) proto).putShort((short) 0)
                .putInt(Ipv4.parse(src)).putInt(Ipv4.parse(dst));
        b.put(l4);
        byte[] f = b.array();
        setShort(f, ETH + 10, checksum(f, ETH, IP, 0));
        if (csumAt >= 0) {
            setShort(f, ETH + IP + csumAt, l4Checksum(f));
        }
        return f;
    }

    public static byte[] withEtherType(byte[] f, int etherType) {
        byte[] c = f.clone();
        setShort(c, 12, etherType);
        return c;
    }

    public static byte[] rewrite(byte[] f, String src, int sport, String dst, int dport) {
        int proto = f[ETH + 9];
        byte[] l4 = Arrays.copyOfRange(f, ETH + IP, f.length);
        ByteBuffer.wrap(l4).putShort(0, (short) sport).putShort(2, (short) dport);
        int csumAt = proto == TCP ? 16 : 6;
        boolean noChecksum = proto == UDP && getShort(f, ETH + IP + 6) == 0;
        byte[] out = frame(src, dst, proto, zeroAt(l4, csumAt), noChecksum ? -1 : csumAt);
        System.arraycopy(f, 0, out, 0, 12);
        return out;
    }

    public static byte[] withDestinationMac(byte[] f, byte[] mac) {
        byte[] c = f.clone();
        System.arraycopy(mac, 0, c, 0, 6);
        return c;
    }

    public static String saddr(byte[] f) {
        return Ipv4.format(ByteBuffer.wrap(f).getInt(ETH + 12));
    }

    public static String daddr(byte[] f) {
        return Ipv4.format(ByteBuffer.wrap(f).getInt(ETH + 16));
    }

    public static int sport(byte[] f) {
        return getShort(f, ETH + IP);
    }

    public static int dport(byte[] f) {
        return getShort(f, ETH + IP + 2);
    }

    /** True when the IPv4 header checksum and (if present) the TCP/UDP/ICMP checksum verify. */
    public static boolean checksumsValid(byte[] f) {
        int ihl = (f[ETH] & 0x0f) * 4;
        if (checksum(f, ETH, ihl, 0) != 0) {
            return false;
        }
        int proto = f[ETH + 9];
        int l4 = ETH + ihl;
        int len = getShort(f, ETH + 2) - ihl;
        if (proto == ICMP) {
            return checksum(f, l4, len, 0) == 0;
        }
        if (proto == UDP && getShort(f, l4 + 6) == 0) {
            return true;
        }
        return checksum(f, l4, len, pseudoHeaderSum(f, proto, len)) == 0;
    }

    public static int l4Checksum(byte[] f) {
        int len = f.length - ETH - IP;
        int sum = checksum(f, ETH + IP, len, pseudoHeaderSum(f, f[ETH + 9], len));
        return f[ETH + 9] == UDP && sum == 0 ? 0xffff : sum;
    }

    private static int pseudoHeaderSum(byte[] f, int proto, int len) {
        int sum = 0;
        for (int i = 12; i < 20; i += 2) {
            sum += getShort(f, ETH + i);
        }
        return sum + proto + len;
    }

    /** The Internet checksum of {@code len} bytes at {@code off} (0 when a stored checksum verifies). */
    public static int checksum(byte[] f, int off, int len, int initial) {
        long sum = initial;
        for (int i = 0; i + 1 < len; i += 2) {
            sum += getShort(f, off + i);
        }
        if ((len & 1) == 1) {
            sum += (f[off + len - 1] & 0xff) << 8;
        }
        while ((sum >> 16) != 0) {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        return (int) (~sum & 0xffff);
    }

    public static int getShort(byte[] f, int at) {
        return ((f[at] & 0xff) << 8) | (f[at + 1] & 0xff);
    }

    public static void setShort(byte[] f, int at, int v) {
        f[at] = (byte) (v >> 8);
        f[at + 1] = (byte) v;
    }

    private static byte[] zeroAt(byte[] l4, int at) {
        byte[] c = l4.clone();
        c[at] = 0;
        c[at + 1] = 0;
        return c;
    }

    public static String hex(byte[] f) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < f.length; i++) {
            sb.append(String.format("%02x", f[i] & 0xff)).append(i % 16 == 15 ? "\n" : " ");
        }
        return sb.toString();
    }
}
