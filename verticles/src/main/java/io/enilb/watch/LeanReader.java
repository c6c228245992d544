package io.enilb.watch;

import io.fabric8.kubernetes.api.model.ObjectMeta;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.List;
import java.util.Set;
import java.util.function.BiConsumer;
import java.util.function.Supplier;
import tools.jackson.core.JsonParser;
import tools.jackson.core.JsonToken;
import tools.jackson.core.TokenStreamContext;

/**
 * Reads the values of one API object with Jackson's streaming parser, for the lean deserializers
 * ({@link LeanDeserializer}): each method reads the value at the parser's current token and leaves
 * the parser on that value's last token, as Jackson's own deserializers do.
 *
 * <p>A value of the wrong shape (an object where a string belongs, "eighty" for a port) is
 * recorded as the object's {@link #problem()} and skipped, so the parser stays in step with the
 * document and the rest of a list still reads; the caller turns an object with a problem into an
 * {@link Unreadable} one. Scalars are read as Jackson's defaults read them into fabric8's model:
 * numbers and booleans become their text where a string belongs, a numeric string is a number,
 * "true"/"false" a boolean.
 */
final class LeanReader {
    private final JsonParser p;
    /** The object's own context: problems are located relative to it. */
    private final TokenStreamContext object;
    private String problem;

    /** @param p a parser on the object's START_OBJECT (or on a property name inside it) */
    LeanReader(JsonParser p) {
        this.p = p;
        this.object = p.streamReadContext();
    }

    /** The first value that could not be read, "POINTER: expected X, got Y", or null when none. */
    String problem() {
        return problem;
    }

    /**
     * The name of the object's first property when the parser is on its START_OBJECT or on that
     * property already (null when on its END_OBJECT); then call {@link #nextName()}. The
     * parser is left on the property's value.
     */
    String firstName() {
        JsonToken t = p.currentToken();
        String name = t == JsonToken.PROPERTY_NAME ? p.currentName() : t == JsonToken.END_OBJECT ? null : p.nextName();
        if (name != null) {
            p.nextToken();
        }
        return name;
    }

    /** The next property's name, the parser left on its value; null at the end of the object. */
    String nextName() {
        String name = p.nextName();
        if (name != null) {
            p.nextToken();
        }
        return name;
    }

    /** Leaves out the current value (and everything inside it). */
    void skip() {
        p.skipChildren();
    }

    /**
     * Whether the current value is an object to read property by property ({@link #nextName()});
     * false for null and for anything else, which is recorded as a problem and skipped.
     */
    private boolean object() {
        return container(JsonToken.START_OBJECT, "an object");
    }

    /**
     * Whether the current value is an array to read element by element ({@link #nextElement()});
     * false for null and for anything else, which is recorded as a problem and skipped.
     */
    private boolean array() {
        return container(JsonToken.START_ARRAY, "an array");
    }

    private boolean container(JsonToken start, String expected) {
        JsonToken t = p.currentToken();
        if (t == start) {
            return true;
        }
        if (t != JsonToken.VALUE_NULL) {
            mismatch(expected);
        }
        return false;
    }

    /** Moves to the next element of the array being read; false at its end. */
    private boolean nextElement() {
        return p.nextToken() != JsonToken.END_ARRAY;
    }

    /**
     * Whether the current array element is an object; a null element is a problem too (fabric8's
     * model would hand the projection a null port or endpoint).
     */
    private boolean objectElement() {
        if (p.currentToken() == JsonToken.VALUE_NULL) {
            mismatch("an object");
            return false;
        }
        return object();
    }

    /** Reads one property of an object into {@code into}, the parser on its value. */
    @FunctionalInterface
    interface Fields<T> {
        /** @return false for a property this reader leaves out (it is then skipped) */
        boolean read(String name, T into);
    }

    /** The current object read into a fresh {@code create()} by {@code fields}; null for null or a non-object. */
    <T> T object(Supplier<T> create, Fields<T> fields) {
        return object() ? fill(create.get(), fields) : null;
    }

    /**
     * The current array of objects, each read into a fresh {@code create()} by {@code fields}; null
     * for null or a non-array. An element that is no object (null included) is a problem.
     */
    <T> List<T> objects(Supplier<T> create, Fields<T> fields) {
        if (!array()) {
            return null;
        }
        List<T> values = new ArrayList<>(2);
        while (nextElement()) {
            if (objectElement()) {
                values.add(fill(create.get(), fields));
            }
        }
        return values;
    }

    /** The ports of a Service or an EndpointSlice: each one's name, protocol and number. */
    <T> List<T> ports(Supplier<T> create, BiConsumer<T, String> name, BiConsumer<T, String> protocol,
                      BiConsumer<T, Integer> number) {
        return objects(create, (field, port) -> {
            switch (field) {
                case "name" -> name.accept(port, string());
                case "protocol" -> protocol.accept(port, string());
                case "port" -> number.accept(port, integer());
                default -> {
                    return false;
                }
            }
            return true;
        });
    }

    private <T> T fill(T into, Fields<T> fields) {
        for (String name = nextName(); name != null; name = nextName()) {
            if (!fields.read(name, into)) {
                skip();
            }
        }
        return into;
    }

    /** A string, null for null; numbers and booleans as their text. */
    String string() {
        JsonToken t = p.currentToken();
        if (t == JsonToken.VALUE_STRING || t == JsonToken.VALUE_NUMBER_INT || t == JsonToken.VALUE_NUMBER_FLOAT
                || t == JsonToken.VALUE_TRUE || t == JsonToken.VALUE_FALSE) {
            return p.getString();
        }
        if (t != JsonToken.VALUE_NULL) {
            mismatch("a string");
        }
        return null;
    }

    /** An array of strings as written (null elements kept), null for null. */
    List<String> strings() {
        if (!array()) {
            return null;
        }
        List<String> values = new ArrayList<>(2);
        while (nextElement()) {
            values.add(string());
        }
        return values;
    }

    /**
     * An array of strings cut to its first element (an empty list when the array is empty, null
     * for null): the rest is skipped unread.
     */
    List<String> firstString() {
        if (!array()) {
            return null;
        }
        List<String> first = List.of();
        while (nextElement()) {
            if (first.isEmpty()) {
                first = Collections.singletonList(string());
            } else {
                skip();
            }
        }
        return first;
    }

    /** A 32-bit integer, null for null or an empty string; a numeric string is its number. */
    Integer integer() {
        JsonToken t = p.currentToken();
        if (t == JsonToken.VALUE_NUMBER_INT) {
            if (p.getNumberType() == JsonParser.NumberType.INT) {
                return p.getIntValue();
            }
            return mismatch("a 32-bit integer");
        }
        if (t == JsonToken.VALUE_STRING) {
            String text = p.getString().trim();
            if (text.isEmpty()) {
                return null;
            }
            try {
                return Integer.valueOf(text);
            } catch (NumberFormatException e) {
                return mismatch("an integer");
            }
        }
        if (t != JsonToken.VALUE_NULL) {
            mismatch("an integer");
        }
        return null;
    }

    /** A boolean, null for null; "true" and "false" as strings too. */
    Boolean bool() {
        JsonToken t = p.currentToken();
        if (t == JsonToken.VALUE_TRUE) {
            return Boolean.TRUE;
        }
        if (t == JsonToken.VALUE_FALSE) {
            return Boolean.FALSE;
        }
        if (t == JsonToken.VALUE_STRING) {
            String text = p.getString().trim();
            if (text.equals("true") || text.equals("false")) {
                return Boolean.valueOf(text);
            }
            if (text.isEmpty()) {
                return null;
            }
        }
        if (t != JsonToken.VALUE_NULL) {
            mismatch("a boolean");
        }
        return null;
    }

    /**
     * The metadata enilb and the informer read: name, namespace, resourceVersion, uid and, of the
     * labels, only those named in {@code labels}; null when absent or not an object.
     */
    ObjectMeta metadata(Set<String> labels) {
        if (!object()) {
            return null;
        }
        return fill(new ObjectMeta(), (name, meta) -> {
            switch (name) {
                case "name" -> meta.setName(string());
                case "namespace" -> meta.setNamespace(string());
                case "resourceVersion" -> meta.setResourceVersion(string());
                case "uid" -> meta.setUid(string());
                case "labels" -> {
                    if (object()) {
                        fill(meta.getLabels(), (label, kept) -> {
                            if (!labels.contains(label)) {
                                return false;
                            }
                            kept.put(label, string());
                            return true;
                        });
                    }
                }
                default -> {
                    return false;
                }
            }
            return true;
        });
    }

    /** Records the current value as a problem (the first one is kept), skips it, and returns null. */
    private <T> T mismatch(String expected) {
        if (problem == null) {
            problem = pointer() + ": expected " + expected + ", got " + describe(p.currentToken());
        }
        p.skipChildren();
        return null;
    }

    /** The JSON pointer of the current value inside the object (RFC 6901). */
    private String pointer() {
        Deque<String> segments = new ArrayDeque<>();
        TokenStreamContext end = object.getParent();
        for (TokenStreamContext c = p.streamReadContext(); c != null && c != end; c = c.getParent()) {
            if (c.inArray() && c.hasCurrentIndex()) {
                segments.push(Integer.toString(c.getCurrentIndex()));
            } else if (c.inObject() && c.currentName() != null) {
                segments.push(c.currentName().replace("~", "~0").replace("/", "~1"));
            }
        }
        return "/" + String.join("/", segments);
    }

    private static String describe(JsonToken t) {
        return switch (t) {
            case START_OBJECT -> "an object";
            case START_ARRAY -> "an array";
            case VALUE_STRING -> "a string";
            case VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT -> "a number";
            case VALUE_TRUE, VALUE_FALSE -> "a boolean";
            case VALUE_NULL -> "null";
            default -> t.name();
        };
    }
}
