package io.enilb.bpf;

import jnr.constants.platform.Errno;
import jnr.ffi.Pointer;

/**
 * What the kernel tells about a loaded program (struct bpf_prog_info): its id and name.
 *
 * @param id   kernel program id
 * @param name program name (at most 15 characters)
 */
public record ProgramInfo(int id, String name) {
    private static final int INFO_SIZE = 256;
    private static final int OFF_ID = 4;
    private static final int OFF_NAME = 64;
    private static final int NAME_LEN = 16;
    private static final int ENOENT = Errno.ENOENT.intValue();

    static ProgramInfo ofFd(int fd) {
        Bpf bpf = Bpf.get();
        Pointer info = bpf.allocate(INFO_SIZE);
        Pointer len = bpf.allocate(4);
        len.putInt(0, INFO_SIZE);
        bpf.check(bpf.lib.bpf_obj_get_info_by_fd(fd, info, len), "bpf_obj_get_info_by_fd prog fd " + fd);
        byte[] name = new byte[NAME_LEN];
        info.get(OFF_NAME, name, 0, NAME_LEN);
        int end = 0;
        while (end < NAME_LEN && name[end] != 0) {
            end++;
        }
        return new ProgramInfo(info.getInt(OFF_ID), new String(name, 0, end, java.nio.charset.StandardCharsets.US_ASCII));
    }

    /** The program with kernel id {@code id}, or null when it is gone. */
    public static ProgramInfo ofId(int id) {
        Bpf bpf = Bpf.get();
        int fd = bpf.lib.bpf_prog_get_fd_by_id(id);
        if (fd == -ENOENT) {
            return null;
        }
        bpf.check(fd, "bpf_prog_get_fd_by_id " + id);
        try {
            return ofFd(fd);
        } finally {
            bpf.libc.close(fd);
        }
    }
}
