package io.enilb.model;

import java.util.Objects;

/**
 * One change of one Service, as the watcher publishes it.
 *
 * @param key     the Service
 * @param service its new normalized value, or null when the Service is gone (or no longer ours)
 */
public record ServiceChange(ServiceKey key, NormalizedService service) {
    public ServiceChange {
        Objects.requireNonNull(key, "key");
        if (service != null && !service.key().equals(key)) {
            throw new IllegalArgumentException("key " + key + " does not match service " + service.key());
        }
    }

    public static ServiceChange deleted(ServiceKey key) {
        return new ServiceChange(key, null);
    }

    public boolean isDelete() {
        return service == null;
    }
}
