package io.enilb.model;

import java.util.Objects;

/** A Service's identity: namespace and name. Prints as {@code namespace/name}. */
public record ServiceKey(String namespace, String name) implements Comparable<ServiceKey> {
    public ServiceKey {
        Objects.requireNonNull(namespace, "namespace");
        Objects.requireNonNull(name, "name");
    }

    public static ServiceKey parse(String text) {
        int slash = text.indexOf('/');
        if (slash <= 0 || slash == text.length() - 1) {
            throw new IllegalArgumentException("not namespace/name: " + text);
        }
        return new ServiceKey(text.substring(0, slash), text.substring(slash + 1));
    }

    @Override
    public int compareTo(ServiceKey o) {
        int c = namespace.compareTo(o.namespace);
        return c != 0 ? c : name.compareTo(o.name);
    }

    @Override
    public String toString() {
        return namespace + "/" + name;
    }
}
