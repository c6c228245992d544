package io.enilb.watch;

import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.Status;
import io.fabric8.kubernetes.api.model.WatchEvent;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import io.fabric8.kubernetes.model.jackson.Jackson2JdkTypesModule;
import tools.jackson.databind.annotation.JsonDeserialize;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.module.SimpleModule;

/**
 * The Kubernetes client's serialization for enilb's source: fabric8's own (Jackson 3), with
 * Services and EndpointSlices read by the lean deserializers ({@link LeanServiceDeserializer},
 * {@link LeanSliceDeserializer}) wherever the client reads one: the items of a list page and the
 * object of a watch event ({@link LeanWatchObjectDeserializer}), straight from the stream. The
 * informers, paging, resourceVersions and bookmarks stay fabric8's.
 *
 * <p>fabric8 resolves the kind of a watch event's object from a registry that, by default, holds
 * every model class it finds on the class path (loaded and instantiated at the first event: some
 * 700 classes, 5.5 MiB of metaspace). This one knows only the kinds a Service or EndpointSlice
 * watch carries: the objects and the {@code Status} of an error event.
 *
 * <p>A client with this serialization reads every Service and EndpointSlice leanly: it is for the
 * source's informers, not for code that wants the whole object.
 */
final class LeanSerialization {
    private LeanSerialization() {
    }

    /** Reads a watch event's object with {@link LeanWatchObjectDeserializer} instead of fabric8's tree. */
    abstract static class WatchEventObject {
        @JsonDeserialize(using = LeanWatchObjectDeserializer.class)
        Object object;

        // WatchEvent names fabric8's deserializer on the setter too, which Jackson prefers
        @JsonDeserialize(using = LeanWatchObjectDeserializer.class)
        abstract void setObject(Object object);
    }

    /** A new serialization with the lean readers. */
    static KubernetesSerialization create() {
        SimpleModule lean = new SimpleModule("enilb-lean-objects")
                .addDeserializer(Service.class, new LeanServiceDeserializer())
                .addDeserializer(EndpointSlice.class, new LeanSliceDeserializer());
        // the mapper fabric8's own default serialization builds, plus the lean readers
        JsonMapper mapper = JsonMapper.builderWithJackson2Defaults().addModule(new Jackson2JdkTypesModule())
                .addModule(lean).addMixIn(WatchEvent.class, WatchEventObject.class).build();
        KubernetesSerialization serialization = new KubernetesSerialization(mapper, false);
        serialization.registerKubernetesResource(Service.class);
        serialization.registerKubernetesResource(EndpointSlice.class);
        serialization.registerKubernetesResource(Status.class);
        return serialization;
    }
}
