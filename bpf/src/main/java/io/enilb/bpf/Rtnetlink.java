package io.enilb.bpf;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import jnr.constants.platform.Errno;

/**
 * The one rtnetlink request enilb makes itself: setting a device's IPv4 configuration (what
 * {@code /proc/sys/net/ipv4/conf/DEV/*} shows) through RTM_SETLINK with
 * {@code IFLA_AF_SPEC / AF_INET / IFLA_INET_CONF}, as {@code ip link set DEV} would. A container
 * that is not privileged has a read-only {@code /proc/sys}; rtnetlink needs only CAP_NET_ADMIN in
 * the namespace's user namespace. The socket is made on the calling thread, so the request acts
 * on the network namespace that thread is in (a {@link NetnsRunner} task).
 */
public final class Rtnetlink {
    // linux/rtnetlink.h, linux/netlink.h
    private static final short RTM_SETLINK = 19;
    private static final short NLMSG_ERROR = 2;
    private static final short NLM_F_REQUEST = 0x1;
    private static final short NLM_F_ACK = 0x4;
    private static final int NLMSGHDR_BYTES = 16;
    private static final int IFINFOMSG_BYTES = 16;
    private static final int RTATTR_HEADER_BYTES = 4;
    // linux/if_link.h
    private static final short IFLA_AF_SPEC = 26;
    private static final short IFLA_INET_CONF = 1;
    private static final short AF_INET = 2;
    // linux/ip.h: index of accept_local in struct ipv4_devconf's data (1-based, as the enum)
    public static final short IPV4_DEVCONF_ACCEPT_LOCAL = 23;

    private final Bpf bpf = Bpf.get();

    /**
     * Sets one IPv4 devconf value of the device with {@code ifindex} in the calling thread's
     * namespace and waits for the kernel's acknowledgement; throws with the kernel's errno.
     */
    public void setIpv4DevConf(int ifindex, String device, short devconf, int value) {
        String operation = "RTM_SETLINK ipv4 devconf " + devconf + "=" + value + " on " + device;
        byte[] request = ipv4DevConfRequest(ifindex, devconf, value);
        int fd = bpf.checkLibc(bpf.libc.socket(LibC.AF_NETLINK, LibC.SOCK_RAW | LibC.SOCK_CLOEXEC,
                LibC.NETLINK_ROUTE), "socket AF_NETLINK");
        try {
            if (bpf.libc.send(fd, request, request.length, 0) != request.length) {
                throw new BpfException(operation, bpf.lastErrno(), "send");
            }
            byte[] reply = new byte[4096];
            long n = bpf.libc.recv(fd, reply, reply.length, 0);
            if (n < 0) {
                throw new BpfException(operation, bpf.lastErrno(), "recv");
            }
            int errno = ackErrno(ByteBuffer.wrap(reply, 0, (int) n).order(ByteOrder.nativeOrder()));
            if (errno != 0) {
                throw new BpfException(operation, errno, null);
            }
        } finally {
            bpf.libc.close(fd);
        }
    }

    /** nlmsghdr, ifinfomsg, then IFLA_AF_SPEC { AF_INET { IFLA_INET_CONF { devconf: u32 } } }. */
    static byte[] ipv4DevConfRequest(int ifindex, short devconf, int value) {
        int conf = RTATTR_HEADER_BYTES + 4;
        int inetConf = RTATTR_HEADER_BYTES + conf;
        int inet = RTATTR_HEADER_BYTES + inetConf;
        int afSpec = RTATTR_HEADER_BYTES + inet;
        int length = NLMSGHDR_BYTES + IFINFOMSG_BYTES + afSpec;
        ByteBuffer b = ByteBuffer.allocate(length).order(ByteOrder.nativeOrder());
        b.putInt(length).putShort(RTM_SETLINK).putShort((short) (NLM_F_REQUEST | NLM_F_ACK))
                .putInt(1) // nlmsg_seq
                .putInt(0); // nlmsg_pid: the kernel fills it in
        b.put((byte) 0) // ifi_family AF_UNSPEC
                .put((byte) 0) // __ifi_pad
                .putShort((short) 0) // ifi_type
                .putInt(ifindex)
                .putInt(0) // ifi_flags
                .putInt(0); // ifi_change: no flag changes
        b.putShort((short) afSpec).putShort(IFLA_AF_SPEC);
        b.putShort((short) inet).putShort(AF_INET);
        b.putShort((short) inetConf).putShort(IFLA_INET_CONF);
        b.putShort((short) conf).putShort(devconf).putInt(value);
        return b.array();
    }

    /** The errno (positive) of the NLMSG_ERROR acknowledgement, 0 for success. */
    static int ackErrno(ByteBuffer reply) {
        if (reply.remaining() < NLMSGHDR_BYTES + 4 || reply.getShort(4) != NLMSG_ERROR) {
            return Errno.EPROTO.intValue();
        }
        return -reply.getInt(NLMSGHDR_BYTES);
    }
}
