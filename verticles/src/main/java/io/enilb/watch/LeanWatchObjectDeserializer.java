package io.enilb.watch;

import io.fabric8.kubernetes.api.model.KubernetesResource;
import java.util.Map;
import tools.jackson.core.JsonParser;
import tools.jackson.core.JsonToken;
import tools.jackson.core.util.JsonParserSequence;
import tools.jackson.databind.DeserializationContext;
import tools.jackson.databind.ValueDeserializer;
import tools.jackson.databind.util.TokenBuffer;

/**
 * The object of a watch event. fabric8 reads it with its {@code KubernetesDeserializer}, which
 * builds a JSON tree of the whole object to find its kind and only then reads the object from the
 * tree. API servers write {@code apiVersion} and {@code kind} first: when they come first and name
 * a Service or an EndpointSlice, the rest streams into the lean reader as a list item does, no tree
 * built. Anything else (another order, a {@code Status}, another kind) is replayed as it was read
 * to fabric8's deserializer.
 */
final class LeanWatchObjectDeserializer extends ValueDeserializer<Object> {
    /** The lean readers by "apiVersion kind". */
    private final Map<String, LeanDeserializer<?>> readers = Map.of(
            "v1 Service", new LeanServiceDeserializer(),
            "discovery.k8s.io/v1 EndpointSlice", new LeanSliceDeserializer());

    @Override
    public Object deserialize(JsonParser p, DeserializationContext ctxt) {
        if (!p.hasToken(JsonToken.START_OBJECT)) {
            return ctxt.readValue(p, KubernetesResource.class);
        }
        TokenBuffer seen = ctxt.bufferForInputBuffering(p);
        seen.writeStartObject();
        String apiVersion = null;
        String kind = null;
        while (p.nextToken() == JsonToken.PROPERTY_NAME) {
            String name = p.currentName();
            if (!name.equals("apiVersion") && !name.equals("kind")) {
                break;
            }
            seen.writeName(name);
            if (p.nextToken() != JsonToken.VALUE_STRING) {
                break;
            }
            seen.writeString(p.getString());
            if (name.equals("kind")) {
                kind = p.getString();
            } else {
                apiVersion = p.getString();
            }
            if (kind != null && apiVersion != null) {
                p.nextToken(); // the next property, or the object's end
                LeanDeserializer<?> lean = readers.get(apiVersion + " " + kind);
                if (lean != null) {
                    return lean.deserialize(p, ctxt);
                }
                break;
            }
        }
        // what was read so far, then the parser from its current token on
        JsonParser replay = JsonParserSequence.createFlattened(true, seen.asParser(ctxt), p);
        replay.nextToken();
        return ctxt.readValue(replay, KubernetesResource.class);
    }
}
