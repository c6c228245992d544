package io.enilb.bpf;

import jnr.constants.platform.Errno;
import jnr.ffi.Pointer;

/**
 * enilb's tc filters on one device of the calling thread's network namespace, through libbpf's
 * bpf_tc_* (netlink, direct-action cls_bpf). enilb's filter sits at a fixed handle and priority;
 * the clsact qdisc is created when missing and never deleted (others may have filters on it).
 */
public final class Tc {
    /** The handle and priority that mark enilb's filter on a hook. */
    public static final int HANDLE = 0xe11b;
    public static final int PRIORITY = 1;

    public enum Direction {
        INGRESS(1, 46), EGRESS(2, 47);

        /** enum bpf_tc_attach_point (clsact). */
        final int attachPoint;
        /** enum bpf_attach_type of the tcx hook: BPF_TCX_INGRESS, BPF_TCX_EGRESS. */
        final int tcxAttachType;

        Direction(int attachPoint, int tcxAttachType) {
            this.attachPoint = attachPoint;
            this.tcxAttachType = tcxAttachType;
        }

        @Override
        public String toString() {
            return name().toLowerCase();
        }
    }

    private static final int ENOENT = Errno.ENOENT.intValue();
    private static final int EEXIST = Errno.EEXIST.intValue();
    private static final int EINVAL = Errno.EINVAL.intValue();
    private static final int BPF_TC_F_REPLACE = 1;
    /** struct bpf_tc_hook: sz, ifindex, attach_point, parent. */
    private static final int HOOK_SIZE = 24;
    /** struct bpf_tc_opts: sz, prog_fd, flags, prog_id, handle, priority. */
    private static final int OPTS_SIZE = 32;

    private final Bpf bpf = Bpf.get();

    /**
     * Attaches {@code program} to the device's hook, replacing an older enilb program in place.
     * A foreign filter at enilb's handle and priority is an error (EEXIST), never replaced.
     *
     * @return the id of the program attached
     */
    public int attach(int ifindex, String device, Direction direction, BpfProgram program) {
        Pointer hook = hook(ifindex, direction);
        int rc = bpf.lib.bpf_tc_hook_create(hook);
        if (rc < 0 && rc != -EEXIST) {
            bpf.check(rc, "bpf_tc_hook_create clsact on " + device);
        }
        ProgramInfo present = query(ifindex, direction);
        if (present != null && !present.name().startsWith("enilb_")) {
            throw new BpfException("bpf_tc_attach " + program.name() + " on " + device + " " + direction, EEXIST,
                    "handle " + Integer.toHexString(HANDLE) + " holds foreign program " + present.name());
        }
        Pointer opts = opts(program.fd(), present != null ? BPF_TC_F_REPLACE : 0);
        bpf.check(bpf.lib.bpf_tc_attach(hook, opts), "bpf_tc_attach " + program.name() + " on " + device + " " + direction);
        return opts.getInt(16);
    }

    /** Removes enilb's filter from the hook; returns false when there was none. */
    public boolean detach(int ifindex, String device, Direction direction) {
        ProgramInfo present = query(ifindex, direction);
        if (present == null) {
            return false;
        }
        if (!present.name().startsWith("enilb_")) {
            throw new BpfException("bpf_tc_detach on " + device + " " + direction, EEXIST,
                    "handle " + Integer.toHexString(HANDLE) + " holds foreign program " + present.name());
        }
        int rc = bpf.lib.bpf_tc_detach(hook(ifindex, direction), opts(0, 0));
        if (rc == -ENOENT) {
            return false;
        }
        bpf.check(rc, "bpf_tc_detach on " + device + " " + direction);
        return true;
    }

    /** The program at enilb's handle and priority, or null when there is none (or no clsact). */
    public ProgramInfo query(int ifindex, Direction direction) {
        Pointer opts = opts(0, 0);
        int rc = bpf.lib.bpf_tc_query(hook(ifindex, direction), opts);
        if (rc == -ENOENT || rc == -EINVAL /* no clsact qdisc on the device */) {
            return null;
        }
        bpf.check(rc, "bpf_tc_query ifindex " + ifindex + " " + direction);
        return ProgramInfo.ofId(opts.getInt(16));
    }

    private Pointer hook(int ifindex, Direction direction) {
        Pointer hook = bpf.allocate(HOOK_SIZE);
        hook.putLong(0, HOOK_SIZE);
        hook.putInt(8, ifindex);
        hook.putInt(12, direction.attachPoint);
        return hook;
    }

    private Pointer opts(int progFd, int flags) {
        Pointer opts = bpf.allocate(OPTS_SIZE);
        opts.putLong(0, OPTS_SIZE);
        opts.putInt(8, progFd);
        opts.putInt(12, flags);
        opts.putInt(20, HANDLE);
        opts.putInt(24, PRIORITY);
        return opts;
    }
}
