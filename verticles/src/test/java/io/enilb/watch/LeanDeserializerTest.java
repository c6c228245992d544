package io.enilb.watch;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.enilb.model.IpFamily;
import io.enilb.model.NormalizedService;
import io.enilb.watch.Projection.Projected;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.KubernetesResourceList;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceList;
import io.fabric8.kubernetes.api.model.Status;
import io.fabric8.kubernetes.api.model.WatchEvent;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceList;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.io.IOException;
import java.io.InputStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.JsonNodeFactory;
import tools.jackson.databind.node.ObjectNode;

/**
 * The lean readers lose nothing enilb uses: on the normalization table's objects and on rich
 * objects as an API server sends them, the projection of the lean object equals the projection of
 * fabric8's full model read from the same JSON. A field enilb reads with the wrong shape makes
 * that object {@link Unreadable}, and the rest of the list reads as before.
 */
class LeanDeserializerTest {
    private static final KubernetesSerialization FULL = new KubernetesSerialization();
    private static final KubernetesSerialization LEAN = LeanSerialization.create();
    private static final JsonMapper TREES = JsonMapper.shared();
    private static final String SERVICES = resource("rich-services.json");
    private static final String SLICES = resource("rich-endpointslices.json");

    static Stream<Arguments> normalizationTable() {
        return ServiceNormalizerTest.rows();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("normalizationTable")
    void theNormalizationTableReadsTheSame(ServiceNormalizerTest.Row row) {
        Service service = LEAN.unmarshal(FULL.asJson(row.service()), Service.class);
        assertThat(Projection.of(service)).isEqualTo(Projection.of(FULL.unmarshal(FULL.asJson(row.service()),
                Service.class)));
        List<EndpointSlice> slices = new ArrayList<>();
        for (EndpointSlice slice : row.slices()) {
            EndpointSlice lean = LEAN.unmarshal(FULL.asJson(slice), EndpointSlice.class);
            assertThat(Projection.of(lean)).isEqualTo(Projection.of(FULL.unmarshal(FULL.asJson(slice),
                    EndpointSlice.class)));
            slices.add(lean);
        }
        assertThat(new ServiceNormalizer("node-a").normalize(service, slices))
                .isEqualTo(Optional.ofNullable(row.expected()));
    }

    @Test
    void richServicesReadTheSameAndKeepNothingElse() {
        List<Service> lean = readTheSame(SERVICES, ServiceList.class, 10);
        List<Service> full = FULL.unmarshal(SERVICES, ServiceList.class).getItems();

        Service web = lean.get(0);
        assertThat(web.getMetadata().getName()).isEqualTo("web");
        assertThat(web.getMetadata().getNamespace()).isEqualTo("shop");
        assertThat(web.getMetadata().getResourceVersion()).isEqualTo("101");
        assertThat(web.getMetadata().getUid()).isEqualTo(full.get(0).getMetadata().getUid());
        // what the full model carries and enilb never reads
        assertThat(full.get(0).getMetadata().getManagedFields()).hasSize(2);
        assertThat(web.getMetadata().getManagedFields()).isEmpty();
        assertThat(web.getMetadata().getAnnotations()).isEmpty();
        assertThat(web.getMetadata().getLabels()).isEmpty();
        assertThat(web.getMetadata().getFinalizers()).isEmpty();
        assertThat(web.getStatus()).isNull();
        assertThat(web.getAdditionalProperties()).isEmpty();
        assertThat(web.getSpec().getSelector()).isEmpty();
        assertThat(web.getSpec().getAdditionalProperties()).isEmpty();
        assertThat(web.getSpec().getPorts().get(0).getTargetPort()).isNull();
        assertThat(web.getSpec().getPorts().get(0).getNodePort()).isNull();
        assertThat(lean.get(2).getMetadata().getLabels())
                .containsOnlyKeys(ServiceNormalizer.SERVICE_PROXY_NAME_LABEL);
    }

    @Test
    void richEndpointSlicesReadTheSameAndKeepNothingElse() {
        List<EndpointSlice> lean = readTheSame(SLICES, EndpointSliceList.class, 7);

        EndpointSlice web = lean.get(0);
        assertThat(web.getMetadata().getLabels()).containsOnlyKeys(ServiceNormalizer.SERVICE_NAME_LABEL);
        assertThat(web.getMetadata().getOwnerReferences()).isEmpty();
        assertThat(web.getEndpoints().get(0).getTargetRef()).isNull();
        assertThat(web.getEndpoints().get(0).getZone()).isNull();
        assertThat(web.getEndpoints().get(0).getHints()).isNull();
        assertThat(web.getEndpoints().get(1).getAddresses()).containsExactly("198.18.0.2");
    }

    /** Guards the comparisons above against being equal because both sides lost everything. */
    @Test
    void theRichObjectsNormalizeToWhatKubeProxyWouldProgram() {
        List<Service> services = LEAN.unmarshal(SERVICES, ServiceList.class).getItems();
        List<EndpointSlice> slices = LEAN.unmarshal(SLICES, EndpointSliceList.class).getItems();
        ServiceNormalizer normalizer = new ServiceNormalizer("node-a");

        NormalizedService web = normalizer.normalize(services.get(0), slices).orElseThrow();
        assertThat(web.affinityTimeoutSeconds()).isEqualTo(600);
        assertThat(web.clusterIps()).extracting(c -> c.family()).containsExactly(IpFamily.IPV6, IpFamily.IPV4);
        assertThat(web.clusterIps().get(0).ports().get(0).backends()).extracting(b -> b.ip() + ":" + b.port()
                + " " + b.state()).containsExactly("2001:db8:18::1:8080 ACTIVE", "2001:db8:18::2:8080 TERMINATING");
        assertThat(web.clusterIps().get(1).ports().get(1).backends()).extracting(b -> b.ip() + " " + b.state())
                .containsExactly("198.18.0.1 ACTIVE", "198.18.0.2 TERMINATING", "198.18.0.3 TERMINATING",
                        "198.18.0.5 ACTIVE", "198.18.0.6 ACTIVE");

        NormalizedService dns = normalizer.normalize(services.get(1), slices).orElseThrow();
        assertThat(dns.clusterIps().get(0).ports()).extracting(p -> p.name() + " " + p.backends().size())
                .containsExactly("dns 1", "dns-tcp 1"); // internalTrafficPolicy Local: node-a's endpoint only
        assertThat(services.subList(2, 8)).allSatisfy(s -> assertThat(normalizer.normalize(s, slices)).isEmpty());
    }

    @Test
    void aWatchEventCarriesALeanObjectAndAnErrorEventAStatus() {
        String item = TREES.readTree(SERVICES).get("items").get(0).toString();
        WatchEvent event = LEAN.unmarshal("{\"type\":\"MODIFIED\",\"object\":" + item + "}", WatchEvent.class);
        assertThat(event.getObject()).isInstanceOf(Service.class);
        Service service = (Service) event.getObject();
        assertThat(service.getMetadata().getManagedFields()).isEmpty();
        assertThat(Projection.of(service)).isEqualTo(Projection.of(FULL.unmarshal(item, Service.class)));

        // the informer tells an expired resourceVersion (410) by the Status of an ERROR event
        WatchEvent error = LEAN.unmarshal("{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\","
                + "\"status\":\"Failure\",\"code\":410,\"reason\":\"Expired\"}}", WatchEvent.class);
        assertThat(error.getObject()).isInstanceOfSatisfying(Status.class, s -> assertThat(s.getCode()).isEqualTo(410));
    }

    private record Hostile(String description, boolean slices, Consumer<ObjectNode> change, String problem) {
        @Override
        public String toString() {
            return description;
        }
    }

    static Stream<Hostile> hostile() {
        return Stream.of(
                new Hostile("a port number that is an object", false,
                        o -> at(o, "spec", "ports", 0).set("port", object()),
                        "/spec/ports/0/port: expected an integer, got an object"),
                new Hostile("a port number that is no number", false,
                        o -> at(o, "spec", "ports", 1).put("port", "eighty"),
                        "/spec/ports/1/port: expected an integer, got a string"),
                new Hostile("a port number beyond 32 bits", false,
                        o -> at(o, "spec", "ports", 1).put("port", 4_294_967_376L),
                        "/spec/ports/1/port: expected a 32-bit integer, got a number"),
                new Hostile("a spec that is a string", false, o -> o.put("spec", "ClusterIP"),
                        "/spec: expected an object, got a string"),
                new Hostile("ports that are an object", false, o -> at(o, "spec").set("ports", object()),
                        "/spec/ports: expected an array, got an object"),
                new Hostile("a null port", false, o -> ((ArrayNode) o.get("spec").get("ports")).set(0, nullNode()),
                        "/spec/ports/0: expected an object, got null"),
                new Hostile("a ClusterIP that is an object", false,
                        o -> ((ArrayNode) o.get("spec").get("clusterIPs")).set(1, object()),
                        "/spec/clusterIPs/1: expected a string, got an object"),
                new Hostile("labels that are an array", false,
                        o -> at(o, "metadata").set("labels", JsonNodeFactory.instance.arrayNode()),
                        "/metadata/labels: expected an object, got an array"),
                new Hostile("a label enilb reads that is an object", false,
                        o -> at(o, "metadata", "labels").set(ServiceNormalizer.HEADLESS_LABEL, object()),
                        "/metadata/labels/service.kubernetes.io~1headless: expected a string, got an object"),
                new Hostile("an affinity timeout that is a boolean", false,
                        o -> at(o, "spec", "sessionAffinityConfig", "clientIP").put("timeoutSeconds", true),
                        "/spec/sessionAffinityConfig/clientIP/timeoutSeconds: expected an integer, got a boolean"),
                new Hostile("endpoints that are a string", true, o -> o.put("endpoints", "198.18.0.1"),
                        "/endpoints: expected an array, got a string"),
                new Hostile("a condition that is no boolean", true,
                        o -> at(o, "endpoints", 1, "conditions").put("ready", "maybe"),
                        "/endpoints/1/conditions/ready: expected a boolean, got a string"),
                new Hostile("an address that is an object", true,
                        o -> ((ArrayNode) at(o, "endpoints", 0).get("addresses")).set(0, object()),
                        "/endpoints/0/addresses/0: expected a string, got an object"),
                new Hostile("conditions that are an array", true,
                        o -> at(o, "endpoints", 2).set("conditions", JsonNodeFactory.instance.arrayNode()),
                        "/endpoints/2/conditions: expected an object, got an array"),
                new Hostile("a slice port that is a string", true,
                        o -> ((ArrayNode) o.get("ports")).set(0, JsonNodeFactory.instance.stringNode("http")),
                        "/ports/0: expected an object, got a string"),
                new Hostile("a service-name label that is an array", true,
                        o -> at(o, "metadata", "labels").set(ServiceNormalizer.SERVICE_NAME_LABEL,
                                JsonNodeFactory.instance.arrayNode()),
                        "/metadata/labels/kubernetes.io~1service-name: expected a string, got an array"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("hostile")
    void aFieldOfTheWrongShapeMakesThatObjectUnreadableAndTheRestReads(Hostile row) {
        String original = row.slices ? SLICES : SERVICES;
        ObjectNode list = (ObjectNode) TREES.readTree(original);
        row.change.accept((ObjectNode) list.get("items").get(0));

        List<? extends HasMetadata> lean = row.slices
                ? LEAN.unmarshal(list.toString(), EndpointSliceList.class).getItems()
                : LEAN.unmarshal(list.toString(), ServiceList.class).getItems();
        List<? extends HasMetadata> full = row.slices
                ? FULL.unmarshal(original, EndpointSliceList.class).getItems()
                : FULL.unmarshal(original, ServiceList.class).getItems();

        assertThat(Unreadable.problemOf(lean.get(0))).isEqualTo(row.problem);
        assertThat(lean.get(0).getMetadata().getName()).isEqualTo(full.get(0).getMetadata().getName());
        assertThat(lean.get(0).getMetadata().getResourceVersion())
                .isEqualTo(full.get(0).getMetadata().getResourceVersion());
        assertThat(projections(lean.subList(1, lean.size()))).isEqualTo(projections(full.subList(1, full.size())));
    }

    @Test
    void fieldsEnilbDoesNotReadAreSkippedWhateverTheirShape() {
        ObjectNode list = (ObjectNode) TREES.readTree(SLICES);
        ObjectNode web = (ObjectNode) list.get("items").get(0);
        web.put("status", 5);
        at(web, "metadata").put("managedFields", "not a list");
        at(web, "metadata").put("annotations", 7);
        at(web, "endpoints", 0).set("targetRef", JsonNodeFactory.instance.arrayNode().add(1));
        at(web, "endpoints", 0).put("hints", "none");
        // a huge annotation and a deep unknown structure are skipped unread
        at(web, "metadata").set("x-annotations", object().put("blob", "x".repeat(5 << 20)));
        ObjectNode deep = object();
        ObjectNode level = deep;
        for (int i = 0; i < 200; i++) {
            level = level.putObject("d");
        }
        web.set("x-deep", deep);
        ArrayNode wide = web.putArray("x-wide");
        for (int i = 0; i < 100_000; i++) {
            wide.add(i);
        }

        List<EndpointSlice> lean = LEAN.unmarshal(list.toString(), EndpointSliceList.class).getItems();
        List<EndpointSlice> full = FULL.unmarshal(SLICES, EndpointSliceList.class).getItems();
        assertThat(Unreadable.problemOf(lean.get(0))).isNull();
        assertThat(projections(lean)).isEqualTo(projections(full));
    }

    @Test
    void aWatchEventsObjectWhoseKindIsNotFirstReadsTheSame() {
        ObjectNode item = (ObjectNode) TREES.readTree(SLICES).get("items").get(0);
        ObjectNode reordered = object();
        reordered.set("metadata", item.get("metadata"));
        item.properties().forEach(e -> reordered.set(e.getKey(), e.getValue()));
        WatchEvent event = LEAN.unmarshal("{\"type\":\"ADDED\",\"object\":" + reordered + "}", WatchEvent.class);
        assertThat(event.getObject()).isInstanceOfSatisfying(EndpointSlice.class, s -> {
            assertThat(s.getMetadata().getManagedFields()).isEmpty();
            assertThat(Projection.of(s)).isEqualTo(Projection.of(FULL.unmarshal(item.toString(), EndpointSlice.class)));
        });
    }

    /**
     * A watch event's object streams into the lean reader when its kind comes first (as API
     * servers write it): a large field it skips is never held; in another order fabric8's
     * deserializer builds the whole object as a tree first.
     */
    @Test
    void aWatchEventsObjectStreamsWhenItsKindComesFirst() {
        ObjectNode item = (ObjectNode) TREES.readTree(SERVICES).get("items").get(0);
        at(item, "metadata", "annotations").put("big", "x".repeat(4 << 20));
        String kindFirst = "{\"type\":\"MODIFIED\",\"object\":" + item + "}";
        ObjectNode reordered = object();
        reordered.set("metadata", item.get("metadata"));
        item.properties().forEach(e -> reordered.set(e.getKey(), e.getValue()));
        String kindLater = "{\"type\":\"MODIFIED\",\"object\":" + reordered + "}";

        long streamed = leastAllocated(() -> LEAN.unmarshal(kindFirst, WatchEvent.class));
        long viaTree = leastAllocated(() -> LEAN.unmarshal(kindLater, WatchEvent.class));
        System.out.printf("a watch event with a 4 MiB annotation: %d KiB allocated with the kind first, %d KiB "
                + "through a tree%n", streamed / 1024, viaTree / 1024);
        assertThat(streamed).isLessThan(viaTree / 4);
        assertThat(Projection.of((Service) LEAN.unmarshal(kindFirst, WatchEvent.class).getObject()))
                .isEqualTo(Projection.of((Service) LEAN.unmarshal(kindLater, WatchEvent.class).getObject()));
    }

    @Test
    void aBookmarkReadsWithItsResourceVersion() {
        WatchEvent bookmark = LEAN.unmarshal("{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"EndpointSlice\","
                + "\"apiVersion\":\"discovery.k8s.io/v1\",\"metadata\":{\"resourceVersion\":\"12345\",\"annotations\":"
                + "{\"k8s.io/initial-events-end\":\"true\"}}}}", WatchEvent.class);
        assertThat(bookmark.getObject()).isInstanceOfSatisfying(EndpointSlice.class,
                s -> assertThat(s.getMetadata().getResourceVersion()).isEqualTo("12345"));
    }

    @Test
    void anUnreadableObjectWithoutANameOrNoObjectAtAllFailsTheList() {
        ObjectNode noName = (ObjectNode) TREES.readTree(SERVICES);
        ObjectNode item = (ObjectNode) noName.get("items").get(1);
        at(item, "metadata").remove("name");
        at(item, "spec").put("ports", 80);
        assertThatThrownBy(() -> LEAN.unmarshal(noName.toString(), ServiceList.class))
                .hasStackTraceContaining("a Service without metadata.name (/spec/ports: expected an array, got a number)");

        ObjectNode metadataString = (ObjectNode) TREES.readTree(SERVICES);
        ((ObjectNode) metadataString.get("items").get(1)).put("metadata", "local-dns");
        assertThatThrownBy(() -> LEAN.unmarshal(metadataString.toString(), ServiceList.class))
                .hasStackTraceContaining("a Service without metadata (/metadata: expected an object, got a string)");

        ObjectNode noMetadata = (ObjectNode) TREES.readTree(SERVICES);
        ((ObjectNode) noMetadata.get("items").get(1)).remove("metadata");
        assertThatThrownBy(() -> LEAN.unmarshal(noMetadata.toString(), ServiceList.class))
                .hasStackTraceContaining("a Service without metadata");

        ObjectNode itemString = (ObjectNode) TREES.readTree(SLICES);
        ((ArrayNode) itemString.get("items")).set(1, JsonNodeFactory.instance.stringNode("web-v6xyz"));
        assertThatThrownBy(() -> LEAN.unmarshal(itemString.toString(), EndpointSliceList.class))
                .hasStackTraceContaining("an EndpointSlice must be a JSON object");
    }

    @Test
    void truncatedJsonFailsTheList() {
        String truncated = SLICES.substring(0, SLICES.length() / 2);
        assertThatThrownBy(() -> LEAN.unmarshal(truncated, EndpointSliceList.class))
                .hasStackTraceContaining("end-of-input");
    }

    /**
     * What the lean readers save, as bytes allocated to read a page of 500 rich EndpointSlices of
     * 10 endpoints (cost, not time: the thread's allocation counter).
     */
    @Test
    void aPageReadsWithAFractionOfTheFullModelsAllocation() {
        ObjectNode list = (ObjectNode) TREES.readTree(SLICES);
        ObjectNode template = (ObjectNode) list.get("items").get(0);
        ArrayNode items = JsonNodeFactory.instance.arrayNode();
        for (int i = 0; i < 500; i++) {
            ObjectNode slice = template.deepCopy();
            at(slice, "metadata").put("name", "web-" + i);
            ArrayNode endpoints = slice.putArray("endpoints");
            for (int e = 0; e < 10; e++) {
                ObjectNode endpoint = ((ObjectNode) template.get("endpoints").get(0)).deepCopy();
                ((ArrayNode) endpoint.get("addresses")).set(0,
                        JsonNodeFactory.instance.stringNode("198.18." + (i / 200) + "." + (i % 200 + e)));
                endpoints.add(endpoint);
            }
            items.add(slice);
        }
        list.set("items", items);
        byte[] page = list.toString().getBytes(StandardCharsets.UTF_8);

        long full = leastAllocated(() -> FULL.unmarshal(new java.io.ByteArrayInputStream(page), EndpointSliceList.class));
        long lean = leastAllocated(() -> LEAN.unmarshal(new java.io.ByteArrayInputStream(page), EndpointSliceList.class));
        System.out.printf("a page of 500 rich EndpointSlices x 10 endpoints (%d KiB of JSON): full model %d KiB, "
                + "lean %d KiB allocated%n", page.length / 1024, full / 1024, lean / 1024);
        assertThat(lean).isLessThan(full / 3);
    }

    private static long leastAllocated(Runnable read) {
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long least = Long.MAX_VALUE;
        for (int i = 0; i < 5; i++) {
            long before = threads.getCurrentThreadAllocatedBytes();
            read.run();
            least = Math.min(least, threads.getCurrentThreadAllocatedBytes() - before);
        }
        return least;
    }

    /** The lean items of a list, after checking that all read and project as fabric8's full model does. */
    private static <T extends HasMetadata> List<T> readTheSame(String json,
                                                                Class<? extends KubernetesResourceList<T>> type,
                                                                int items) {
        List<T> lean = LEAN.unmarshal(json, type).getItems();
        assertThat(lean).hasSize(items).allSatisfy(o -> assertThat(Unreadable.problemOf(o)).isNull());
        assertThat(projections(lean)).isEqualTo(projections(FULL.unmarshal(json, type).getItems()));
        return lean;
    }

    private static List<Projected> projections(List<? extends HasMetadata> objects) {
        return objects.stream().map(Projection::of).toList();
    }

    /** The object at a path of property names and array indexes. */
    private static ObjectNode at(ObjectNode root, Object... path) {
        JsonNode node = root;
        for (Object step : path) {
            node = step instanceof Integer i ? node.get(i) : node.get((String) step);
        }
        return (ObjectNode) node;
    }

    private static ObjectNode object() {
        return JsonNodeFactory.instance.objectNode();
    }

    private static JsonNode nullNode() {
        return JsonNodeFactory.instance.nullNode();
    }

    private static String resource(String name) {
        try (InputStream in = LeanDeserializerTest.class.getResourceAsStream(name)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
