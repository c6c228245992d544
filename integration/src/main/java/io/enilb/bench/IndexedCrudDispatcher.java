package io.enilb.bench;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesAttributesExtractor;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.fabric8.mockwebserver.crud.Attribute;
import io.fabric8.mockwebserver.crud.AttributeSet;
import io.fabric8.mockwebserver.http.MockResponse;
import java.lang.reflect.AccessibleObject;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Collections;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReadWriteLock;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * fabric8's CRUD mock API server, made to hold 100 000 objects: its dispatcher finds the object a
 * create, update or get names by testing every stored object in turn, so filling it costs the
 * square of its size (10 000 Services and their slices took 5 minutes, 50 000 did not finish in
 * 20), and each update (a GET, then a PUT) scanned it twice. Here those lookups go through an index
 * by resource, namespace and name, which keeps each object's stored key and state as fabric8 last
 * stored them (the key is checked against the query; a miss falls back to fabric8's scan), and
 * {@link #store} puts an object in the store the way a create does, without the HTTP round trip,
 * for the bench's initial objects. fabric8 ignores a list's {@code limit}, so a client paging
 * through 100 000 objects got them in one response (the daemon's heap could not hold it); here a
 * list with a limit is served in pages of a snapshot taken at its first page, as the API server
 * does. {@code GET /version} answers as a 1.31 API server: fabric8's dispatcher answered it with
 * every stored object, which the daemon read whole while choosing its list mode (at 50 000
 * realistic Services and their slices, 260 MiB: it ran out of heap before its first list). A
 * watch from a resource version starts after it, as the API server's does ({@link #handleWatch});
 * updates are fabric8's own.
 */
final class IndexedCrudDispatcher extends KubernetesCrudDispatcher {
    private static final String[] IDENTITY = {"plural", "namespace", "name"};
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final Pattern RESOURCE_VERSION = Pattern.compile("\"resourceVersion\":\"([0-9]+)\"");
    /** What {@code GET /version} returns: 1.31, whose API servers serve lists in pages, not as a stream. */
    static final String VERSION = "{\"major\":\"1\",\"minor\":\"31\",\"gitVersion\":\"v1.31.0\",\"platform\":\"linux/amd64\"}";
    /** Lists being paged through, by the id in their continue token. */
    private final Map<String, Snapshot> snapshots = new ConcurrentHashMap<>();
    /** (resource, namespace, name) -> the key the object is stored under and its state. */
    private final Map<AttributeSet, Map.Entry<AttributeSet, String>> index = new ConcurrentHashMap<>();
    private volatile boolean replayWholeStore;

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

    /**
     * The server's version; a GET of one object (no query, no subresource) from the index; a list
     * with a limit in pages; anything else as fabric8 does it.
     */
    @Override
    public MockResponse handleGet(String path) {
        if (path.equals("/version") || path.startsWith("/version?")) {
            return new MockResponse().setResponseCode(200).setBody(VERSION);
        }
        if (path.contains("watch=")) {
            // few, and each one replays every stored object as ADDED (fabric8's mock): worth knowing when
            System.out.printf("%s mock API server: watch opened: %s%n", java.time.Instant.now(), path);
        } else if (path.contains("limit=")) {
            return page(path);
        }
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

    /**
     * One page of a list: {@code limit} items from the snapshot the {@code continue} token names,
     * or from a new snapshot (fabric8's whole list) when there is none.
     */
    private MockResponse page(String path) {
        int q = path.indexOf('?');
        Map<String, String> params = query(path);
        int limit = Integer.parseInt(params.remove("limit"));
        String token = params.remove("continue");
        Snapshot snapshot;
        int from;
        if (token == null || token.isEmpty()) {
            StringBuilder rest = new StringBuilder(path.substring(0, q));
            params.forEach((k, v) -> rest.append(rest.indexOf("?") < 0 ? '?' : '&').append(k).append('=')
                    .append(URLEncoder.encode(v, StandardCharsets.UTF_8)));
            MockResponse whole = super.handleGet(rest.toString());
            if (whole.code() != 200) {
                return whole;
            }
            ObjectNode list = (ObjectNode) JSON.readTree(whole.getBody().readUtf8());
            List<JsonNode> items = new ArrayList<>();
            list.withArray("items").forEach(items::add);
            snapshot = new Snapshot(UUID.randomUUID().toString(), list, items);
            from = 0;
        } else {
            int colon = token.lastIndexOf(':');
            snapshot = snapshots.get(token.substring(0, colon));
            if (snapshot == null) {
                return new MockResponse().setResponseCode(410).setBody("{\"kind\":\"Status\",\"apiVersion\":\"v1\","
                        + "\"status\":\"Failure\",\"reason\":\"Expired\",\"code\":410}");
            }
            from = Integer.parseInt(token.substring(colon + 1));
        }
        int to = Math.min(snapshot.items.size(), from + limit);
        ObjectNode page = snapshot.list.deepCopy();
        page.putArray("items").addAll(snapshot.items.subList(from, to));
        ObjectNode metadata = page.withObject("metadata");
        if (to < snapshot.items.size()) {
            snapshots.put(snapshot.id, snapshot);
            metadata.put("continue", snapshot.id + ":" + to);
            metadata.put("remainingItemCount", snapshot.items.size() - to);
        } else {
            snapshots.remove(snapshot.id);
        }
        return new MockResponse().setResponseCode(200).setBody(JSON.writeValueAsString(page));
    }

    /** A request's query parameters, in their order; empty when it has none. */
    private static Map<String, String> query(String path) {
        Map<String, String> params = new LinkedHashMap<>();
        int q = path.indexOf('?');
        if (q < 0) {
            return params;
        }
        for (String p : path.substring(q + 1).split("&")) {
            int eq = p.indexOf('=');
            params.put(eq < 0 ? p : p.substring(0, eq), eq < 0 ? "" : URLDecoder.decode(p.substring(eq + 1), StandardCharsets.UTF_8));
        }
        return params;
    }

    /**
     * A watch as fabric8 opens it, except that one from a resource version (an informer's, after
     * its list) starts with the stored objects changed after that version only, as the API server's
     * watch does: fabric8's replays every stored object as ADDED, so each watch the daemon opened
     * after listing 10 000 Services and their slices sent all 20 000 again, in the middle of the
     * cold sync being measured, and each watch fabric8 reopened during the churn sent them once
     * more (seconds of replay ahead of the next change). An object deleted between the version and
     * the watch is not told (the API server would send DELETED); the bench deletes nothing.
     */
    @Override
    public MockResponse handleWatch(String path) {
        MockResponse response = super.handleWatch(path);
        String version = query(path).get("resourceVersion");
        if (!replayWholeStore && version != null && version.matches("[1-9][0-9]*")) {
            replayAfter(response.getWebSocketListener(), Long.parseLong(version));
        }
        return response;
    }

    /**
     * Whether the watches opened from now on replay every stored object, as fabric8's do (a bench
     * variant: what a re-list costs the daemon).
     */
    void replayWholeStore(boolean replay) {
        replayWholeStore = replay;
    }

    /**
     * Makes fabric8's watch listener (package-private, its replay a private final field) replay,
     * when it opens, only the matching objects whose resource version is above {@code version}:
     * under the store's read lock, as fabric8's replay, so that no change is sent ahead of it.
     */
    private void replayAfter(Object listener, long version) {
        try {
            Field onOpen = listener.getClass().getDeclaredField("onOpenAction");
            Method matches = listener.getClass().getMethod("attributeMatches", AttributeSet.class);
            Method send = listener.getClass().getMethod("sendWebSocketResponse", String.class, Watcher.Action.class);
            Field lockField = KubernetesCrudDispatcher.class.getDeclaredField("lock");
            AccessibleObject.setAccessible(new AccessibleObject[] {onOpen, matches, send, lockField}, true);
            Lock lock = ((ReadWriteLock) lockField.get(this)).readLock();
            Consumer<Object> replay = l -> {
                lock.lock();
                try {
                    for (Map.Entry<AttributeSet, String> e : map.entrySet()) {
                        if (resourceVersion(e.getValue()) > version && (Boolean) matches.invoke(l, e.getKey())) {
                            send.invoke(l, e.getValue(), Watcher.Action.ADDED);
                        }
                    }
                } catch (ReflectiveOperationException ex) {
                    throw new IllegalStateException(ex);
                } finally {
                    lock.unlock();
                }
            };
            onOpen.set(listener, replay);
        } catch (ReflectiveOperationException ex) {
            throw new IllegalStateException("fabric8's mock changed: cannot resume its watch from a version", ex);
        }
    }

    /** The resource version in a stored object's state; 0 without one. */
    private static long resourceVersion(String state) {
        Matcher m = RESOURCE_VERSION.matcher(state);
        return m.find() ? Long.parseLong(m.group(1)) : 0;
    }

    /** A list as fabric8 returned it (its items emptied) and its items, paged through by a client. */
    private record Snapshot(String id, ObjectNode list, List<JsonNode> items) {
        Snapshot {
            list.putArray("items");
        }
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
