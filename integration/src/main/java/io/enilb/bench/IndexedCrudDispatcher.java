package io.enilb.bench;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.server.mock.KubernetesAttributesExtractor;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.fabric8.mockwebserver.crud.Attribute;
import io.fabric8.mockwebserver.crud.AttributeSet;
import io.fabric8.mockwebserver.http.MockResponse;
import java.time.Instant;
import java.util.Collections;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;

/**
 * fabric8's CRUD mock API server, made to hold 100 000 objects: its dispatcher finds the object a
 * create, update or get names by testing every stored object in turn, so filling it costs the
 * square of its size (10 000 Services and their slices took 5 minutes, 50 000 did not finish in
 * 20), and each update (a GET, then a PUT) scanned it twice. Here those lookups go through an index
 * by resource, namespace and name, which keeps each object's stored key and state as fabric8 last
 * stored them (the key is checked against the query; a miss falls back to fabric8's scan), and
 * {@link #store} puts an object in the store the way a create does, without the HTTP round trip,
 * for the bench's initial objects. Lists, watches and updates are fabric8's own.
 */
final class IndexedCrudDispatcher extends KubernetesCrudDispatcher {
    private static final String[] IDENTITY = {"plural", "namespace", "name"};
    /** (resource, namespace, name) -> the key the object is stored under and its state. */
    private final Map<AttributeSet, Map.Entry<AttributeSet, String>> index = new ConcurrentHashMap<>();

    IndexedCrudDispatcher() {
        super(Collections.emptyList());
    }

    /**
     * Stores {@code object} as a create to {@code collectionPath} (e.g.
     * {@code /api/v1/namespaces/bench/services}) would: uid, creation time, resource version.
     * For objects created before any client watches; not concurrently with requests.
     */
    void store(String collectionPath, HasMetadata object) {
        GenericKubernetesResource resource = Serialization.unmarshal(Serialization.asJson(object),
                GenericKubernetesResource.class);
        resource.getMetadata().setUid(UUID.randomUUID().toString());
        resource.getMetadata().setCreationTimestamp(Instant.now().toString());
        resource.getMetadata().setResourceVersion(Long.toString(requestResourceVersion()));
        resource.getMetadata().setGeneration(1L);
        AttributeSet key = getKey(collectionPath).add(new Attribute("name", resource.getMetadata().getName()));
        processEvent(collectionPath, key, null, resource, Serialization.asJson(resource));
    }

    @Override
    public Map.Entry<AttributeSet, String> findResource(AttributeSet query) {
        Map.Entry<AttributeSet, String> indexed = lookUp(query);
        if (indexed != null) {
            return indexed;
        }
        Map.Entry<AttributeSet, String> found = super.findResource(query);
        AttributeSet identity = identity(query);
        if (found != null && identity != null) {
            index.put(identity, Map.entry(found.getKey(), found.getValue()));
        }
        return found;
    }

    /** A GET of one object (no query, no subresource) from the index; anything else as fabric8 does it. */
    @Override
    public MockResponse handleGet(String path) {
        if (!path.contains("?")) {
            AttributeSet query = getKey(path);
            Attribute name = query.getAttribute("name");
            Map.Entry<AttributeSet, String> indexed = name != null && path.endsWith("/" + name.getValues().get(0))
                    ? lookUp(query) : null;
            if (indexed != null) {
                return new MockResponse().setResponseCode(200).setBody(indexed.getValue());
            }
        }
        return super.handleGet(path);
    }

    private Map.Entry<AttributeSet, String> lookUp(AttributeSet query) {
        AttributeSet identity = identity(query);
        Map.Entry<AttributeSet, String> stored = identity == null ? null : index.get(identity);
        return stored != null && stored.getKey().matches(query) ? stored : null;
    }

    @Override
    public void processEvent(String path, AttributeSet pathAttributes, AttributeSet oldAttributes,
                             GenericKubernetesResource resource, String newState) {
        super.processEvent(path, pathAttributes, oldAttributes, resource, newState);
        if (oldAttributes != null) {
            AttributeSet old = identity(oldAttributes);
            if (old != null) {
                index.remove(old);
            }
        }
        if (newState != null) {
            // the key fabric8 stored it under, computed as its processEvent does; indexed only if
            // it is really there (otherwise the next lookup scans and indexes what it finds)
            KubernetesAttributesExtractor extractor = (KubernetesAttributesExtractor) getAttributeExtractor();
            AttributeSet attributes = resource != null ? extractor.extract(resource) : extractor.fromResource(newState);
            AttributeSet stored = attributes.containsKey("plural") ? attributes : AttributeSet.merge(pathAttributes, attributes);
            AttributeSet identity = identity(stored);
            if (identity != null && newState.equals(getMap().get(stored))) {
                index.put(identity, Map.entry(stored, newState));
            }
        }
    }

    /** The resource, namespace and name of a key or query; null when it lacks one of them. */
    private static AttributeSet identity(AttributeSet attributes) {
        Attribute[] parts = new Attribute[IDENTITY.length];
        for (int i = 0; i < IDENTITY.length; i++) {
            parts[i] = attributes.getAttribute(IDENTITY[i]);
            if (parts[i] == null) {
                return null;
            }
        }
        return new AttributeSet(parts);
    }
}
