package io.enilb.bpf;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

import jnr.ffi.Pointer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every Java codec against the compiled object's BTF: the struct's size and each field's name,
 * offset and size, taken from the same field declarations the codec writes and reads with; and
 * the Java mirror of enum drop_reason.
 */
class StructLayoutTest {
    private static final int BTF_KIND_STRUCT = 4;
    private static final int BTF_KIND_ENUM = 6;
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
                Structs.CtConfig.CODEC, Structs.PodKey.CODEC, Structs.PodValue.CODEC,
                Structs.FragKey.CODEC, Structs.FragValue.CODEC, Structs.VipKey.CODEC, Structs.VipValue.CODEC,
                Structs.FlowEvent.CODEC, Structs.FlowConfig.CODEC, Structs.FlowLimiter.CODEC,
                Structs.SockScope.CODEC, Structs.SockNat.CODEC, Structs.SockFlowKey.CODEC, Structs.SockFlowValue.CODEC,
                Structs.SockScope6.CODEC, Structs.SockNat6.CODEC, Structs.SockFlowKey6.CODEC, Structs.SockFlowValue6.CODEC,
                Structs.SvcKey6.CODEC, Structs.BackendEntry6.CODEC, Structs.RevNatValue6.CODEC, Structs.CtKey6.CODEC,
                Structs.CtValue6.CODEC, Structs.AffinityKey6.CODEC, Structs.PodKey6.CODEC, Structs.FragKey6.CODEC,
                Structs.VipKey6.CODEC, Structs.FrontendPrefix6.CODEC, Structs.FlowEvent6.CODEC,
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
        assertThat(btfFields(id)).as("fields of struct %s", codec.cName())
                .containsExactlyElementsOf(codec.fields().stream().map(StructCodec.Field::layout).toList());
    }

    @Test
    void dropReasonsMirrorTheEnum() {
        LibBpf lib = Bpf.get().lib;
        int id = lib.btf__find_by_name_kind(btf, "drop_reason", BTF_KIND_ENUM);
        assertThat(id).as("BTF enum drop_reason").isPositive();
        Pointer type = lib.btf__type_by_id(btf, id);
        int vlen = type.getInt(4) & 0xffff;
        List<String> kernel = new ArrayList<>();
        for (int i = 0; i < vlen; i++) {
            // struct btf_enum { __u32 name_off; __s32 val; } after struct btf_type
            String name = lib.btf__name_by_offset(btf, type.getInt(12 + 8L * i));
            int value = type.getInt(12 + 8L * i + 4);
            if (!name.equals("DROP_REASON_MAX")) {
                kernel.add(name + "=" + value);
            }
        }
        assertThat(Arrays.stream(Maps.DropReason.values()).map(r -> "DROP_" + r.name() + "=" + r.ordinal()).toList())
                .as("Maps.DropReason against enum drop_reason").containsExactlyElementsOf(kernel);
    }

    @Test
    void aCodecWritesTheBytesItDeclares() {
        Structs.CtKey key = new Structs.CtKey(0x0102030405060708L, Ipv4.parse("198.18.0.10"), Ipv4.parse("198.19.0.1"),
                40000, 80, 6, Structs.CtKey.REPLY);
        byte[] bytes = Structs.CtKey.CODEC.encode(key);
        assertThat(Arrays.copyOfRange(bytes, 8, 22)).as("addresses and ports in network order, then proto and dir")
                .containsExactly(198, 18, 0, 10, 198, 19, 0, 1, 0x9c, 0x40, 0, 80, 6, 1);
        assertThat(Arrays.copyOfRange(bytes, 22, 24)).as("explicit padding is zero").containsExactly(0, 0);
        assertThat(Structs.CtKey.CODEC.decode(bytes)).isEqualTo(key);
    }

    @Test
    void anIpv6CodecWritesAddressesInNetworkOrder() {
        Structs.CtKey6 key = new Structs.CtKey6(7L, Ipv6.parse("2001:db8:18::a"), Ipv6.parse("2001:db8:19::1"),
                40000, 80, 6, Structs.CtKey.ORIGINAL);
        byte[] bytes = Structs.CtKey6.CODEC.encode(key);
        assertThat(Arrays.copyOfRange(bytes, 8, 24)).as("saddr as struct in6_addr")
                .containsExactly(0x20, 0x01, 0x0d, 0xb8, 0, 0x18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a);
        assertThat(Arrays.copyOfRange(bytes, 24, 46)).as("daddr, ports in network order, proto, dir")
                .containsExactly(0x20, 0x01, 0x0d, 0xb8, 0, 0x19, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x9c, 0x40, 0, 80, 6, 0);
        assertThat(Structs.CtKey6.CODEC.decode(bytes)).isEqualTo(key);
    }

    @Test
    void aBatchIsEachEntryEncodedBackToBack() {
        Structs.CtKey6 a = new Structs.CtKey6(7L, Ipv6.parse("2001:db8:18::a"), Ipv6.parse("2001:db8:19::1"),
                40000, 80, 6, Structs.CtKey.ORIGINAL);
        Structs.CtKey6 b = new Structs.CtKey6(8L, Ipv6.parse("2001:db8:18::b"), Ipv6.parse("2001:db8:19::2"),
                40001, 443, 17, Structs.CtKey.REPLY);
        int size = Structs.CtKey6.CODEC.size();
        byte[] batch = new byte[3 * size];
        Structs.CtKey6.CODEC.encodeAll(List.of(a, b, a), java.util.function.Function.identity(), batch);
        assertThat(Arrays.copyOfRange(batch, 0, size)).isEqualTo(Structs.CtKey6.CODEC.encode(a));
        assertThat(Arrays.copyOfRange(batch, size, 2 * size)).isEqualTo(Structs.CtKey6.CODEC.encode(b));
        assertThat(Arrays.copyOfRange(batch, 2 * size, 3 * size)).isEqualTo(Structs.CtKey6.CODEC.encode(a));
        assertThat(Structs.CtKey6.CODEC.decode(Arrays.copyOfRange(batch, size, 2 * size))).isEqualTo(b);
    }

    @Test
    void ipv6TextRoundTripsInRfc5952Form() {
        assertThat(Ipv6.parse("2001:0db8:0019:0000:0000:0000:0000:0001")).hasToString("2001:db8:19::1");
        assertThat(Ipv6.parse("::")).hasToString("::");
        assertThat(Ipv6.parse("2001:db8:0:1:0:0:1:1")).hasToString("2001:db8:0:1::1:1");
        assertThat(Ipv6.parse("fe80::1:0:0:0:1")).hasToString("fe80:0:0:1::1");
        assertThat(Ipv6.prefixMask(108)).isEqualTo(new Ipv6(-1L, 0xfffffffffff00000L));
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> Ipv6.parse("198.19.0.1"))
                .isInstanceOf(IllegalArgumentException.class);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> Ipv6.parse("2001:db8::zz"))
                .isInstanceOf(IllegalArgumentException.class);
    }

    /** The members of struct {@code id}: name, byte offset, byte size (struct btf_member follows struct btf_type). */
    private static List<StructCodec.Layout> btfFields(int id) {
        LibBpf lib = Bpf.get().lib;
        Pointer type = lib.btf__type_by_id(btf, id);
        int info = type.getInt(4);
        assertThat((info >>> 31) & 1).as("no bitfields in shared structs").isZero();
        int vlen = info & 0xffff;
        List<StructCodec.Layout> out = new ArrayList<>();
        for (int i = 0; i < vlen; i++) {
            long m = 12 + 12L * i;
            String name = lib.btf__name_by_offset(btf, type.getInt(m));
            int memberType = type.getInt(m + 4);
            int bitOffset = type.getInt(m + 8);
            assertThat(bitOffset % 8).as("member %s byte aligned", name).isZero();
            out.add(new StructCodec.Layout(name, bitOffset / 8, (int) lib.btf__resolve_size(btf, memberType)));
        }
        return out;
    }
}
