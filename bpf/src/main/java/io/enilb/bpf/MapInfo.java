package io.enilb.bpf;

import jnr.ffi.Pointer;

/**
 * What the kernel tells about a map (struct bpf_map_info): its type and layout.
 *
 * @param type       BPF_MAP_TYPE_*
 * @param keySize    key bytes
 * @param valueSize  value bytes
 * @param maxEntries capacity
 */
record MapInfo(int type, int keySize, int valueSize, int maxEntries) {
    private static final int INFO_SIZE = 96;
    private static final int OFF_TYPE = 0;
    private static final int OFF_KEY_SIZE = 8;
    private static final int OFF_VALUE_SIZE = 12;
    private static final int OFF_MAX_ENTRIES = 16;

    /** The map behind {@code fd}; {@code what} names it in errors (e.g. its pin). */
    static MapInfo ofFd(int fd, String what) {
        Bpf bpf = Bpf.get();
        Pointer info = bpf.allocate(INFO_SIZE);
        Pointer len = bpf.allocate(4);
        len.putInt(0, INFO_SIZE);
        bpf.check(bpf.lib.bpf_obj_get_info_by_fd(fd, info, len), "bpf_obj_get_info_by_fd " + what);
        return new MapInfo(info.getInt(OFF_TYPE), info.getInt(OFF_KEY_SIZE), info.getInt(OFF_VALUE_SIZE),
                info.getInt(OFF_MAX_ENTRIES));
    }
}
