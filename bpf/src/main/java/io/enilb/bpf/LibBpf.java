package io.enilb.bpf;

import jnr.ffi.Pointer;
import jnr.ffi.annotations.Delegate;
import jnr.ffi.annotations.In;
import jnr.ffi.annotations.Out;
import jnr.ffi.annotations.SaveError;
import jnr.ffi.types.size_t;

/**
 * libbpf (libbpf.so.1), the functions enilb calls, named exactly as in C. Nothing else lives
 * here: {@link Bpf} turns results into Java values and exceptions. Functions returning int
 * return 0 or a negative errno (libbpf 1.x); functions returning a pointer return NULL and set
 * errno on failure.
 */
public interface LibBpf {
    /** libbpf_print_fn_t: int (*)(enum libbpf_print_level level, const char *format, va_list args). */
    interface PrintFn {
        @Delegate
        int print(int level, String format, Pointer args);
    }

    // --- logging (libbpf.h); returns the previous function
    Pointer libbpf_set_print(PrintFn fn);

    // --- objects, programs, maps (libbpf.h)
    @SaveError
    Pointer bpf_object__open_file(String path, Pointer opts);

    int bpf_object__load(Pointer obj);

    void bpf_object__close(Pointer obj);

    Pointer bpf_object__find_program_by_name(Pointer obj, String name);

    Pointer bpf_object__find_map_by_name(Pointer obj, String name);

    int bpf_program__fd(Pointer prog);

    int bpf_map__fd(Pointer map);

    int bpf_map__set_pin_path(Pointer map, String path);

    int bpf_map__set_max_entries(Pointer map, int maxEntries);

    int bpf_map__max_entries(Pointer map);

    int bpf_map__key_size(Pointer map);

    int bpf_map__value_size(Pointer map);

    int libbpf_num_possible_cpus();

    // --- tc (libbpf.h): hook = struct bpf_tc_hook, opts = struct bpf_tc_opts
    int bpf_tc_hook_create(Pointer hook);

    int bpf_tc_attach(Pointer hook, Pointer opts);

    int bpf_tc_detach(Pointer hook, Pointer opts);

    int bpf_tc_query(Pointer hook, Pointer opts);

    // --- ring buffer (libbpf.h): rb = struct ring_buffer *
    /** {@code typedef int (*ring_buffer_sample_fn)(void *ctx, void *data, size_t size)}. */
    interface RingBufferSampleFn {
        @Delegate
        int call(Pointer ctx, Pointer data, @size_t long size);
    }

    @SaveError
    Pointer ring_buffer__new(int mapFd, RingBufferSampleFn sampleCb, Pointer ctx, Pointer opts);

    int ring_buffer__poll(Pointer rb, int timeoutMs);

    void ring_buffer__free(Pointer rb);

    // --- raw syscall wrappers (bpf.h)
    int bpf_map_update_elem(int fd, @In Pointer key, @In Pointer value, long flags);

    int bpf_map_lookup_elem(int fd, @In Pointer key, @Out Pointer value);

    int bpf_map_delete_elem(int fd, @In Pointer key);

    int bpf_map_get_next_key(int fd, @In Pointer key, @Out Pointer nextKey);

    int bpf_map_update_batch(int fd, @In Pointer keys, @In Pointer values, Pointer count, Pointer opts);

    int bpf_map_delete_batch(int fd, @In Pointer keys, Pointer count, Pointer opts);

    int bpf_map_lookup_batch(int fd, Pointer inBatch, Pointer outBatch, Pointer keys, Pointer values,
                             Pointer count, Pointer opts);

    int bpf_prog_test_run_opts(int progFd, Pointer opts);

    int bpf_obj_get(String pathname);

    int bpf_obj_pin(int fd, String pathname);

    // --- BPF links (bpf.h): opts may be NULL
    int bpf_link_create(int progFd, int targetFd, int attachType, Pointer opts);

    int bpf_link_update(int linkFd, int newProgFd, Pointer opts);

    int bpf_link_detach(int linkFd);

    int bpf_obj_get_info_by_fd(int fd, Pointer info, Pointer infoLen);

    int bpf_prog_get_fd_by_id(int id);

    int bpf_prog_get_next_id(int startId, Pointer nextId);

    // --- BTF (btf.h), for checking the Java layouts against the compiled object
    @SaveError
    Pointer btf__parse(String path, Pointer btfExt);

    int btf__find_by_name_kind(Pointer btf, String name, int kind);

    Pointer btf__type_by_id(Pointer btf, int id);

    String btf__name_by_offset(Pointer btf, int offset);

    long btf__resolve_size(Pointer btf, int typeId);

    void btf__free(Pointer btf);
}
