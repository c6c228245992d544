package io.enilb.bpf;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import jnr.ffi.Pointer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Every Java codec against the compiled object's BTF: the struct's size and each field's offset and size. */
class StructLayoutTest {
    private static final int BTF_KIND_STRUCT = 4;
    private static final int BTF_KIND_TYPEDEF = 8;
    private static Pointer btf;

    @BeforeAll
    static void parseBtf() {
        Path object = TestObjects.bpfObject();
        assertThat(Files.isReadable(object)).as("compiled BPF object %s", object).isTrue();
        Bpf bpf = Bpf.get();
        btf = bpf.checkPointer(bpf.lib.btf__parse(object.toString(), null), "btf__parse " + object);
    }

    @AfterAll
    static void freeBtf() {
        Bpf.get().lib.btf__free(btf);
    }

    static Stream<StructCodec<?>> codecs() {
        return Stream.of(Structs.SvcKey.CODEC, Structs.SvcValue.CODEC, Structs.SlotKey.CODEC, Structs.SlotValue.CODEC,
                Structs.BackendEntry.CODEC, Structs.RevNatValue.CODEC, Structs.CtKey.CODEC, Structs.CtValue.CODEC,
                Structs.AffinityKey.CODEC, Structs.AffinityValue.CODEC, Structs.SvcStats.CODEC,
                Structs.FragKey.CODEC, Structs.FragValue.CODEC, Structs.VipKey.CODEC, Structs.VipValue.CODEC,
                StructCodec.U32, StructCodec.U64);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("codecs")
    void javaLayoutMatchesBtf(StructCodec<?> codec) {
        LibBpf lib = Bpf.get().lib;
        boolean struct = !codec.cName().startsWith("__");
        int id = lib.btf__find_by_name_kind(btf, codec.cName(), struct ? BTF_KIND_STRUCT : BTF_KIND_TYPEDEF);
        assertThat(id).as("BTF type %s", codec.cName()).isPositive();
        assertThat(lib.btf__resolve_size(btf, id)).as("sizeof(%s)", codec.cName()).isEqualTo(codec.size());
        if (!struct) {
            return;
        }
        assertThat(btfFields(id)).as("fields of struct %s", codec.cName()).containsExactlyElementsOf(codec.fields());
    }

    /** The members of struct {@code id}: name, byte offset, byte size (struct btf_member follows struct btf_type). */
    private static List<StructCodec.Field> btfFields(int id) {
        LibBpf lib = Bpf.get().lib;
        Pointer type = lib.btf__type_by_id(btf, id);
        int info = type.getInt(4);
        assertThat((info >>> 31) & 1).as("no bitfields in shared structs").isZero();
        int vlen = info & 0xffff;
        List<StructCodec.Field> out = new ArrayList<>();
        for (int i = 0; i < vlen; i++) {
            long m = 12 + 12L * i;
            String name = lib.btf__name_by_offset(btf, type.getInt(m));
            int memberType = type.getInt(m + 4);
            int bitOffset = type.getInt(m + 8);
            assertThat(bitOffset % 8).as("member %s byte aligned", name).isZero();
            out.add(new StructCodec.Field(name, bitOffset / 8, (int) lib.btf__resolve_size(btf, memberType)));
        }
        return out;
    }
}
