package io.enilb.watch;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import java.util.Set;
import java.util.function.BiFunction;
import java.util.function.Supplier;
import tools.jackson.core.JsonParser;
import tools.jackson.core.JsonToken;
import tools.jackson.databind.DeserializationContext;
import tools.jackson.databind.ValueDeserializer;

/**
 * Reads an API object straight from the JSON stream into a fabric8 object holding only what
 * enilb reads ({@link Projection#of} and {@link ServiceNormalizer#keyOf}) and what the informer
 * needs (name, namespace, resourceVersion, uid); everything else (managedFields, annotations,
 * status, unknown fields) is skipped unread, so it is neither built nor kept as garbage for the
 * collector. The informers and {@link ProjectionStore} see ordinary Services and EndpointSlices.
 *
 * <p>An object whose identity reads but some field enilb uses does not comes back as an
 * {@link Unreadable} one, so a single bad object does not fail the list or watch it came in; such
 * an object without a readable metadata.name, and any object without metadata, fails it (nothing
 * could tell it apart from others).
 *
 * @param <T> the fabric8 type
 */
abstract class LeanDeserializer<T extends HasMetadata> extends ValueDeserializer<T> {
    private final String aKind;
    private final Set<String> labels;
    private final Supplier<T> create;
    private final BiFunction<ObjectMeta, String, T> unreadable;

    /**
     * @param aKind      the kind with its article, for messages ("a Service")
     * @param labels     the labels enilb reads of this kind; other labels are skipped
     * @param create     a fresh, empty object of the type
     * @param unreadable the object that stands for one that could not be read: its metadata and problem
     */
    LeanDeserializer(String aKind, Set<String> labels, Supplier<T> create,
                     BiFunction<ObjectMeta, String, T> unreadable) {
        this.aKind = aKind;
        this.labels = labels;
        this.create = create;
        this.unreadable = unreadable;
    }

    /**
     * Reads the object's property {@code name} into {@code object} when enilb uses it, the parser
     * on the property's value; returns false (the value is then skipped) for anything else.
     */
    abstract boolean read(String name, LeanReader in, T object);

    @Override
    public T deserialize(JsonParser p, DeserializationContext ctxt) {
        // a watch event's object comes on its first property or its end, its kind read already
        if (!p.hasToken(JsonToken.START_OBJECT) && !p.hasToken(JsonToken.PROPERTY_NAME)
                && !p.hasToken(JsonToken.END_OBJECT)) {
            return ctxt.reportInputMismatch(this, "%s must be a JSON object, not %s", aKind, p.currentToken());
        }
        LeanReader in = new LeanReader(p);
        T object = create.get();
        ObjectMeta metadata = null;
        for (String name = in.firstName(); name != null; name = in.nextName()) {
            if (name.equals("metadata")) {
                metadata = in.metadata(labels);
            } else if (!read(name, in, object)) {
                in.skip();
            }
        }
        if (metadata == null) {
            return ctxt.reportInputMismatch(this, "%s without metadata%s", aKind,
                    in.problem() == null ? "" : " (" + in.problem() + ")");
        }
        if (in.problem() == null) {
            // an object without a name is no error by itself: a watch's BOOKMARK carries a resourceVersion only
            object.setMetadata(metadata);
            return object;
        }
        if (metadata.getName() == null || metadata.getName().isEmpty()) {
            return ctxt.reportInputMismatch(this, "%s without metadata.name (%s)", aKind, in.problem());
        }
        return unreadable.apply(metadata, in.problem());
    }
}
