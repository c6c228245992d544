package io.enilb.bpf;

import jnr.ffi.Pointer;

/** A loaded program: its name as the kernel knows it, its fd and its kernel id. */
public final class BpfProgram {
    /** struct bpf_test_run_opts (libbpf 1.x, x86_64/arm64 offsets). */
    private static final int TR_SIZE = 80;
    private static final int TR_DATA_IN = 8;
    private static final int TR_DATA_OUT = 16;
    private static final int TR_DATA_SIZE_IN = 24;
    private static final int TR_DATA_SIZE_OUT = 28;
    private static final int TR_RETVAL = 56;
    private static final int TR_REPEAT = 60;
    private static final int TR_DURATION = 64;

    private final Bpf bpf = Bpf.get();
    private final String name;
    private final int fd;
    private final int id;

    BpfProgram(String name, int fd) {
        this.name = name;
        this.fd = fd;
        this.id = ProgramInfo.ofFd(fd).id();
    }

    public String name() {
        return name;
    }

    public int fd() {
        return fd;
    }

    public int id() {
        return id;
    }

    /**
     * The outcome of running the program on one packet through BPF_PROG_TEST_RUN.
     *
     * @param verdict    the program's return value (TC_ACT_OK = 0, TC_ACT_SHOT = 2, TC_ACT_REDIRECT = 7)
     * @param packet     the packet as the program left it
     * @param durationNs average run time per repetition, as the kernel measured it
     */
    public record TestRun(int verdict, byte[] packet, int durationNs) {
    }

    /** Runs the program {@code repeat} times on {@code packet} (an Ethernet frame) in the kernel. */
    public TestRun testRun(byte[] packet, int repeat) {
        int outCapacity = Math.max(packet.length, 128) + 256;
        Pointer in = bpf.allocate(packet.length);
        in.put(0, packet, 0, packet.length);
        Pointer out = bpf.allocate(outCapacity);
        Pointer opts = bpf.allocate(TR_SIZE);
        opts.putLong(0, TR_SIZE);
        opts.putAddress(TR_DATA_IN, in.address());
        opts.putAddress(TR_DATA_OUT, out.address());
        opts.putInt(TR_DATA_SIZE_IN, packet.length);
        opts.putInt(TR_DATA_SIZE_OUT, outCapacity);
        opts.putInt(TR_REPEAT, repeat);
        bpf.check(bpf.lib.bpf_prog_test_run_opts(fd, opts), "bpf_prog_test_run_opts " + name);
        byte[] result = new byte[opts.getInt(TR_DATA_SIZE_OUT)];
        out.get(0, result, 0, result.length);
        return new TestRun(opts.getInt(TR_RETVAL), result, opts.getInt(TR_DURATION));
    }

    @Override
    public String toString() {
        return name + " (id " + id + ")";
    }
}
