package io.enilb.cni;

import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;

import java.nio.charset.StandardCharsets;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * One request from {@code enilb-cni}, checked for shape: a known command and the parameters that
 * command needs, in valid syntax. Whether the namespace exists is for the handler to find out.
 *
 * @param command     ADD, DEL, CHECK, GC or STATUS
 * @param containerId CNI_CONTAINERID (empty for GC and STATUS)
 * @param netns       CNI_NETNS (may be empty for DEL, GC and STATUS)
 * @param ifName      CNI_IFNAME (empty for GC and STATUS)
 * @param args        CNI_ARGS, possibly empty
 * @param config      the network config the runtime gave the plugin; never modified
 */
public record CniRequest(String command, String containerId, String netns, String ifName, String args,
                         JsonObject config) {

    private static final Set<String> COMMANDS =
            Set.of(CniWire.ADD, CniWire.DEL, CniWire.CHECK, CniWire.GC, CniWire.STATUS);
    // as libcni validates it
    private static final Pattern CONTAINER_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.\\-]{0,1023}");
    // the kernel's dev_valid_name: at most IFNAMSIZ-1 bytes, no '/', ':' or white space, not . or ..
    private static final Pattern IF_NAME = Pattern.compile("[^/:\\s]{1,15}");

    /** Parses and checks one request; a {@link CniFailure} says what is wrong with it. */
    public static CniRequest parse(Buffer bytes) {
        JsonObject json;
        try {
            json = bytes.toJsonObject();
        } catch (DecodeException | ClassCastException e) {
            throw new CniFailure(CniWire.DECODING_FAILURE, "request is not a JSON object", shorten(e.getMessage()));
        }
        if (json == null) {
            throw new CniFailure(CniWire.DECODING_FAILURE, "request is not a JSON object");
        }
        String command = string(json, CniWire.COMMAND);
        if (!COMMANDS.contains(command)) {
            throw new CniFailure(CniWire.INVALID_ENVIRONMENT, "unknown CNI_COMMAND '" + shorten(command) + "'");
        }
        String containerId = string(json, CniWire.CONTAINER_ID);
        String netns = string(json, CniWire.NETNS);
        String ifName = string(json, CniWire.IF_NAME);
        String args = string(json, CniWire.ARGS);
        boolean perContainer = command.equals(CniWire.ADD) || command.equals(CniWire.DEL)
                || command.equals(CniWire.CHECK);
        if (perContainer) {
            if (!CONTAINER_ID.matcher(containerId).matches()) {
                throw new CniFailure(CniWire.INVALID_ENVIRONMENT, "invalid CNI_CONTAINERID '" + shorten(containerId) + "'",
                        "letters, digits, '_', '.' and '-' only");
            }
            if (!validIfName(ifName)) {
                throw new CniFailure(CniWire.INVALID_ENVIRONMENT, "invalid CNI_IFNAME '" + shorten(ifName) + "'",
                        "1 to 15 characters, no '/', ':' or white space, not . or ..");
            }
            boolean needsNetns = !command.equals(CniWire.DEL);
            if ((needsNetns || !netns.isEmpty()) && !netns.startsWith("/")) {
                throw new CniFailure(CniWire.INVALID_ENVIRONMENT, "invalid CNI_NETNS '" + shorten(netns) + "'",
                        "an absolute path is needed");
            }
            if (netns.indexOf('\0') >= 0) {
                throw new CniFailure(CniWire.INVALID_ENVIRONMENT, "invalid CNI_NETNS");
            }
        }
        Object config = json.getValue(CniWire.CONFIG);
        if (!(config instanceof JsonObject configObject)) {
            throw new CniFailure(CniWire.DECODING_FAILURE, "request has no network config object");
        }
        if (!(configObject.getValue("cniVersion") instanceof String)) {
            throw new CniFailure(CniWire.INVALID_CONFIG, "network config has no cniVersion");
        }
        if (!(configObject.getValue("name") instanceof String)) {
            throw new CniFailure(CniWire.INVALID_CONFIG, "network config has no name");
        }
        return new CniRequest(command, containerId, netns, ifName, args, configObject);
    }

    /** The config's cniVersion, in which results are printed. */
    public String cniVersion() {
        return config.getString("cniVersion");
    }

    /** {@code 5ddb4f…/eth0}, as logs name a pod. */
    public String podLabel() {
        return shortId(containerId) + "/" + ifName;
    }

    /** The first 12 characters of a container id, as runtimes print it. */
    public static String shortId(String containerId) {
        return containerId.length() <= 12 ? containerId : containerId.substring(0, 12);
    }

    public static boolean validIfName(String name) {
        return IF_NAME.matcher(name).matches() && !name.equals(".") && !name.equals("..")
                && name.getBytes(StandardCharsets.UTF_8).length <= 15;
    }

    private static String string(JsonObject json, String key) {
        Object value = json.getValue(key);
        if (value == null) {
            return "";
        }
        if (!(value instanceof String s)) {
            throw new CniFailure(CniWire.DECODING_FAILURE, "request field " + key + " is not a string");
        }
        return s;
    }

    private static String shorten(String text) {
        if (text == null) {
            return "";
        }
        return text.length() <= 80 ? text : text.substring(0, 80) + "…";
    }
}
