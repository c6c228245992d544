package io.enilb.bpf;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.function.Function;
import java.util.function.ToLongFunction;

/**
 * How one Java value is laid out as one C struct of {@code include/structs.h}. Each C field is
 * declared once, as a {@link Field} (name, offset, kind, and how to get it from the Java value);
 * writing, reading and the layout test against the compiled object's BTF all derive from that
 * one list, so the test covers the bytes actually written. Host-order fields are written in
 * the machine's order, {@code __be} fields big-endian, padding as zeroes.
 *
 * @param <T> the Java value
 */
public final class StructCodec<T> {
    /** How a field's bytes are written. */
    public enum Kind {
        U8(1), U16(2), U32(4), U64(8), BE16(2), BE32(4), PAD(0),
        /** A {@code struct in6_addr}: 16 bytes in network order, an {@link Ipv6} in Java. */
        IN6(16);

        final int size;

        Kind(int size) {
            this.size = size;
        }
    }

    /**
     * One field of the C struct.
     *
     * @param name   the C member name
     * @param offset byte offset
     * @param size   byte size
     * @param kind   how it is written
     * @param getter the field's value from the Java value (null for padding and IPv6 addresses)
     * @param address the field's value of an {@link Kind#IN6} field (null for the others)
     */
    public record Field<T>(String name, int offset, int size, Kind kind, ToLongFunction<T> getter,
                           Function<T, Ipv6> address) {
        Field(String name, int offset, int size, Kind kind, ToLongFunction<T> getter) {
            this(name, offset, size, kind, getter, null);
        }

        /** The part the BTF layout test compares: name, offset, size. */
        public Layout layout() {
            return new Layout(name, offset, size);
        }
    }

    /** A member as BTF describes it. */
    public record Layout(String name, int offset, int size) {
    }

    private final String cName;
    private final int size;
    private final List<Field<T>> fields;
    private final Function<long[], T> reader;

    private StructCodec(String cName, int size, List<Field<T>> fields, Function<long[], T> reader) {
        this.cName = cName;
        this.size = size;
        this.fields = List.copyOf(fields);
        this.reader = reader;
        int next = 0;
        for (Field<T> f : this.fields) {
            if (f.offset != next) {
                throw new IllegalStateException(cName + "." + f.name + " at " + f.offset + ", expected " + next
                        + ": every byte must belong to a declared field (explicit padding)");
            }
            next = f.offset + f.size;
        }
        if (next != size) {
            throw new IllegalStateException(cName + ": fields cover " + next + " of " + size + " bytes");
        }
    }

    /**
     * A struct codec: the fields in C order, and a constructor taking the values of the fields
     * that are not padding, in that order (unsigned; narrow them as the record's types need). An
     * {@link Kind#IN6} field gives two values, {@link Ipv6#hi()} then {@link Ipv6#lo()}.
     */
    @SafeVarargs
    public static <T> StructCodec<T> struct(String cName, int size, Function<long[], T> reader, Field<T>... fields) {
        return new StructCodec<>(cName, size, List.of(fields), reader);
    }

    public static <T> Field<T> u8(String name, int offset, ToLongFunction<T> getter) {
        return new Field<>(name, offset, 1, Kind.U8, getter);
    }

    public static <T> Field<T> u16(String name, int offset, ToLongFunction<T> getter) {
        return new Field<>(name, offset, 2, Kind.U16, getter);
    }

    public static <T> Field<T> u32(String name, int offset, ToLongFunction<T> getter) {
        return new Field<>(name, offset, 4, Kind.U32, getter);
    }

    public static <T> Field<T> u64(String name, int offset, ToLongFunction<T> getter) {
        return new Field<>(name, offset, 8, Kind.U64, getter);
    }

    public static <T> Field<T> be16(String name, int offset, ToLongFunction<T> getter) {
        return new Field<>(name, offset, 2, Kind.BE16, getter);
    }

    public static <T> Field<T> be32(String name, int offset, ToLongFunction<T> getter) {
        return new Field<>(name, offset, 4, Kind.BE32, getter);
    }

    /** An IPv6 address ({@code struct in6_addr}). */
    public static <T> Field<T> in6(String name, int offset, Function<T, Ipv6> getter) {
        return new Field<>(name, offset, 16, Kind.IN6, null, getter);
    }

    /** Explicit padding, written as zeroes. */
    public static <T> Field<T> pad(String name, int offset, int size) {
        return new Field<>(name, offset, size, Kind.PAD, null);
    }

    /** The C type this codec mirrors: a struct name, or {@code __u32} / {@code __u64}. */
    public String cName() {
        return cName;
    }

    public int size() {
        return size;
    }

    /** Every field, padding included, in C order. */
    public List<Field<T>> fields() {
        return fields;
    }

    public byte[] encode(T value) {
        byte[] bytes = new byte[size];
        encodeAll(List.of(value), Function.identity(), bytes);
        return bytes;
    }

    /**
     * Encodes {@code of(items.get(i))} at {@code i * size()} of {@code into}, which must hold them
     * all: one buffer for a whole batch instead of one per entry. Padding stays as {@code into}
     * has it (zeroes when new).
     */
    public <E> void encodeAll(List<E> items, Function<E, T> of, byte[] into) {
        ByteBuffer b = ByteBuffer.wrap(into).order(ByteOrder.nativeOrder());
        for (int i = 0; i < items.size(); i++) {
            T value = of.apply(items.get(i));
            int base = i * size;
            for (Field<T> f : fields) {
                if (f.kind == Kind.IN6) {
                    Ipv6 a = f.address.apply(value);
                    b.order(ByteOrder.BIG_ENDIAN).putLong(base + f.offset, a.hi()).putLong(base + f.offset + 8, a.lo());
                    b.order(ByteOrder.nativeOrder());
                } else if (f.kind != Kind.PAD) {
                    write(b, base, f, f.getter.applyAsLong(value));
                }
            }
        }
    }

    public T decode(byte[] bytes) {
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.nativeOrder());
        long[] values = new long[2 * fields.size()];
        int n = 0;
        for (Field<T> f : fields) {
            if (f.kind == Kind.IN6) {
                values[n++] = b.order(ByteOrder.BIG_ENDIAN).getLong(f.offset);
                values[n++] = b.getLong(f.offset + 8);
                b.order(ByteOrder.nativeOrder());
            } else if (f.kind != Kind.PAD) {
                values[n++] = read(b, f);
            }
        }
        return reader.apply(n == values.length ? values : java.util.Arrays.copyOf(values, n));
    }

    private static void write(ByteBuffer b, int base, Field<?> f, long v) {
        boolean swap = ByteOrder.nativeOrder() != ByteOrder.BIG_ENDIAN;
        int at = base + f.offset;
        switch (f.kind) {
            case U8 -> b.put(at, (byte) v);
            case U16 -> b.putShort(at, (short) v);
            case U32 -> b.putInt(at, (int) v);
            case U64 -> b.putLong(at, v);
            case BE16 -> b.putShort(at, swap ? Short.reverseBytes((short) v) : (short) v);
            case BE32 -> b.putInt(at, swap ? Integer.reverseBytes((int) v) : (int) v);
            case PAD, IN6 -> { }
        }
    }

    private static long read(ByteBuffer b, Field<?> f) {
        boolean swap = ByteOrder.nativeOrder() != ByteOrder.BIG_ENDIAN;
        return switch (f.kind) {
            case U8 -> Byte.toUnsignedLong(b.get(f.offset));
            case U16 -> Short.toUnsignedLong(b.getShort(f.offset));
            case U32 -> Integer.toUnsignedLong(b.getInt(f.offset));
            case U64 -> b.getLong(f.offset);
            case BE16 -> Short.toUnsignedLong(swap ? Short.reverseBytes(b.getShort(f.offset)) : b.getShort(f.offset));
            case BE32 -> Integer.toUnsignedLong(swap ? Integer.reverseBytes(b.getInt(f.offset)) : b.getInt(f.offset));
            case PAD, IN6 -> 0;
        };
    }

    /** A plain {@code __u32}, the key of the id-indexed maps. */
    public static final StructCodec<Integer> U32 = new StructCodec<>("__u32", 4,
            List.of(u32("", 0, Integer::longValue)), v -> (int) v[0]);

    /** A plain {@code __u64}, the per-CPU value of the drop counters. */
    public static final StructCodec<Long> U64 = new StructCodec<>("__u64", 8,
            List.of(u64("", 0, Long::longValue)), v -> v[0]);
}
