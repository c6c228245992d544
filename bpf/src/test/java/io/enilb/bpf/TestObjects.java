package io.enilb.bpf;

import java.nio.file.Path;

/** Where tests find the compiled BPF object (set by the build; defaults to this module's target). */
public final class TestObjects {
    private TestObjects() {
    }

    public static Path bpfObject() {
        String configured = System.getProperty("enilb.bpf.object");
        return configured != null ? Path.of(configured) : Path.of("target/bpf/enilb.bpf.o").toAbsolutePath();
    }
}
