package io.enilb.ctl;

import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.Map;

/**
 * Where enilb goes in a node's CNI configuration: right after the plugin that creates the pod's
 * interface, which by the CNI chaining convention is the first of a conflist's {@code plugins}
 * (AWS VPC CNI's {@code aws-cni}, Calico's {@code calico}, flannel, macvlan ...; the chained meta
 * plugins such as portmap, bandwidth, tuning or Cilium in chaining mode follow it). Pure JSON
 * work with Vert.x's JSON (Jackson): every other key and plugin is kept as it was, in its order.
 */
final class CniChain {
    static final String TYPE = "enilb";
    private static final String PLUGINS = "plugins";

    private CniChain() {
    }

    /** A configuration the installer cannot work with; nothing was changed. */
    static final class Refused extends Exception {
        Refused(String message) {
            super(message, null, false, false);
        }
    }

    /** The file's JSON object. */
    static JsonObject parse(String name, String text) throws Refused {
        try {
            return new JsonObject(text);
        } catch (DecodeException | ClassCastException e) {
            throw new Refused(name + " is not a JSON object: " + e.getMessage());
        }
    }

    /** Whether the configuration (a conflist or a single plugin) chains enilb already. */
    static boolean chainsEnilb(JsonObject config) {
        if (!config.containsKey(PLUGINS)) {
            return TYPE.equals(config.getValue("type"));
        }
        for (Object plugin : pluginsOf(config)) {
            if (plugin instanceof JsonObject p && TYPE.equals(p.getValue("type"))) {
                return true;
            }
        }
        return false;
    }

    /**
     * The configuration with {@code {"type":"enilb"}} (and {@code socket} when not the default)
     * right after the first plugin. A single-plugin configuration becomes a conflist of that
     * plugin and enilb: its {@code cniVersion} and {@code name} move to the list, the rest stays
     * the plugin's. Unchanged (equal) when enilb is chained already.
     */
    static JsonObject withEnilb(String name, JsonObject config, String socket) throws Refused {
        if (config.containsKey(PLUGINS) && !(config.getValue(PLUGINS) instanceof JsonArray)) {
            throw new Refused(name + ": plugins is not a list");
        }
        if (chainsEnilb(config)) {
            return config;
        }
        JsonObject list = config.containsKey(PLUGINS) ? config.copy() : conflistOf(name, config);
        JsonArray plugins = pluginsOf(list);
        if (plugins.isEmpty() || !(plugins.getValue(0) instanceof JsonObject first) || !first.containsKey("type")) {
            throw new Refused(name + ": the first plugin (the one that creates the pod's interface) has no type");
        }
        JsonObject enilb = new JsonObject().put("type", TYPE);
        if (socket != null) {
            enilb.put("socket", socket);
        }
        JsonArray chained = new JsonArray();
        for (int i = 0; i < plugins.size(); i++) {
            chained.add(plugins.getValue(i));
            if (i == 0) {
                chained.add(enilb);
            }
        }
        list.put(PLUGINS, chained);
        return list;
    }

    /** The configuration without any enilb plugin; everything else as it was. */
    static JsonObject withoutEnilb(JsonObject config) {
        if (!config.containsKey(PLUGINS)) {
            return config;
        }
        JsonObject list = config.copy();
        JsonArray kept = new JsonArray();
        for (Object plugin : pluginsOf(config)) {
            if (!(plugin instanceof JsonObject p && TYPE.equals(p.getValue("type")))) {
                kept.add(plugin);
            }
        }
        list.put(PLUGINS, kept);
        return list;
    }

    private static JsonObject conflistOf(String name, JsonObject single) throws Refused {
        if (!(single.getValue("type") instanceof String)) {
            throw new Refused(name + " has neither plugins nor a type: not a CNI configuration");
        }
        JsonObject plugin = new JsonObject();
        JsonObject list = new JsonObject();
        for (Map.Entry<String, Object> e : single) {
            switch (e.getKey()) {
                case "cniVersion", "name" -> list.put(e.getKey(), e.getValue());
                default -> plugin.put(e.getKey(), e.getValue());
            }
        }
        return list.put(PLUGINS, new JsonArray().add(plugin));
    }

    private static JsonArray pluginsOf(JsonObject config) {
        Object plugins = config.getValue(PLUGINS);
        return plugins instanceof JsonArray a ? a : new JsonArray();
    }
}
