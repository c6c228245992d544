package io.enilb.bpf;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

/**
 * How one Java value is laid out as one C struct of {@code include/structs.h}. Fields in host
 * order are written in the machine's order, {@code __be} fields big-endian. {@link #fields()}
 * lists every field with the offset the codec writes it at; a test checks them against the
 * compiled object's BTF.
 *
 * @param <T> the Java value
 */
public abstract class StructCodec<T> {
    /** One field of the C struct: its name, byte offset and byte size. */
    public record Field(String name, int offset, int size) {
    }

    private final String cName;
    private final int size;
    private final List<Field> fields;

    protected StructCodec(String cName, int size, List<Field> fields) {
        this.cName = cName;
        this.size = size;
        this.fields = List.copyOf(fields);
    }

    /** The C type this codec mirrors: a struct name, or {@code __u32} / {@code __u64}. */
    public String cName() {
        return cName;
    }

    public int size() {
        return size;
    }

    public List<Field> fields() {
        return fields;
    }

    /** Writes {@code value} at {@code base}; {@code b} is in native order. */
    protected abstract void write(T value, ByteBuffer b, int base);

    /** Reads a value at {@code base}; {@code b} is in native order. */
    protected abstract T read(ByteBuffer b, int base);

    public byte[] encode(T value) {
        ByteBuffer b = ByteBuffer.allocate(size).order(ByteOrder.nativeOrder());
        write(value, b, 0);
        return b.array();
    }

    public T decode(byte[] bytes) {
        return read(ByteBuffer.wrap(bytes).order(ByteOrder.nativeOrder()), 0);
    }

    // helpers for codecs: big-endian (network order) fields in a native-order buffer
    protected static void putBe32(ByteBuffer b, int at, int value) {
        b.putInt(at, ByteOrder.nativeOrder() == ByteOrder.BIG_ENDIAN ? value : Integer.reverseBytes(value));
    }

    protected static int getBe32(ByteBuffer b, int at) {
        int v = b.getInt(at);
        return ByteOrder.nativeOrder() == ByteOrder.BIG_ENDIAN ? v : Integer.reverseBytes(v);
    }

    protected static void putBe16(ByteBuffer b, int at, int value) {
        short s = (short) value;
        b.putShort(at, ByteOrder.nativeOrder() == ByteOrder.BIG_ENDIAN ? s : Short.reverseBytes(s));
    }

    protected static int getBe16(ByteBuffer b, int at) {
        short s = b.getShort(at);
        return Short.toUnsignedInt(ByteOrder.nativeOrder() == ByteOrder.BIG_ENDIAN ? s : Short.reverseBytes(s));
    }

    /** A plain {@code __u32}, the key of the id-indexed maps. */
    public static final StructCodec<Integer> U32 = new StructCodec<>("__u32", 4, List.of(new Field("", 0, 4))) {
        @Override
        protected void write(Integer value, ByteBuffer b, int base) {
            b.putInt(base, value);
        }

        @Override
        protected Integer read(ByteBuffer b, int base) {
            return b.getInt(base);
        }
    };

    /** A plain {@code __u64}, the per-CPU value of the drop counters. */
    public static final StructCodec<Long> U64 = new StructCodec<>("__u64", 8, List.of(new Field("", 0, 8))) {
        @Override
        protected void write(Long value, ByteBuffer b, int base) {
            b.putLong(base, value);
        }

        @Override
        protected Long read(ByteBuffer b, int base) {
            return b.getLong(base);
        }
    };
}
