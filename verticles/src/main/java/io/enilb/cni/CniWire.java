package io.enilb.cni;

/**
 * The daemon's half of the wire protocol between {@code enilb-cni} and enilbd (the plugin's half
 * is {@code io.enilb.cni.plugin.Wire}; the two must agree). One connection carries one request:
 * the plugin writes one JSON object and shuts down its output; the daemon answers one JSON object
 * and closes.
 *
 * <pre>
 * request: {"command":"ADD","containerId":"…","netns":"…","ifName":"eth0","args":"…","config":{stdin}}
 * reply:   {"result":{…}}  or  {"error":{"code":11,"msg":"…","details":"…"}}
 * </pre>
 *
 * For ADD the result is the prevResult, passed through; for the other commands it is {@code {}}.
 */
public final class CniWire {
    private CniWire() {
    }

    public static final String COMMAND = "command";
    public static final String CONTAINER_ID = "containerId";
    public static final String NETNS = "netns";
    public static final String IF_NAME = "ifName";
    public static final String ARGS = "args";
    public static final String CONFIG = "config";

    public static final String RESULT = "result";
    public static final String ERROR = "error";
    public static final String CODE = "code";
    public static final String MSG = "msg";
    public static final String DETAILS = "details";

    public static final String ADD = "ADD";
    public static final String DEL = "DEL";
    public static final String CHECK = "CHECK";
    public static final String GC = "GC";
    public static final String STATUS = "STATUS";

    // CNI error codes (spec 1.1, "Error"); 999 is enilb's own failure
    public static final int INCOMPATIBLE_VERSION = 1;
    public static final int INVALID_ENVIRONMENT = 4;
    public static final int DECODING_FAILURE = 6;
    public static final int INVALID_CONFIG = 7;
    public static final int TRY_AGAIN_LATER = 11;
    public static final int NOT_AVAILABLE = 50;
    public static final int PLUGIN_FAILURE = 999;
}
