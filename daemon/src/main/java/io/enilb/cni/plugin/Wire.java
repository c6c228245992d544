package io.enilb.cni.plugin;

/**
 * The plugin's half of the wire protocol to enilbd (the daemon's half is
 * {@code io.enilb.cni.CniWire}; the two must agree). One connection carries one request: the
 * plugin writes one JSON object and shuts down its output, the daemon answers one JSON object
 * and closes.
 *
 * <pre>
 * request: {"command":"ADD","containerId":"…","netns":"…","ifName":"eth0","args":"…","config":{stdin}}
 * reply:   {"result":{…}}  or  {"error":{"code":11,"msg":"…","details":"…"}}
 * </pre>
 */
final class Wire {
    private Wire() {
    }

    static final String COMMAND = "command";
    static final String CONTAINER_ID = "containerId";
    static final String NETNS = "netns";
    static final String IF_NAME = "ifName";
    static final String ARGS = "args";
    static final String CONFIG = "config";

    static final String RESULT = "result";
    static final String ERROR = "error";
    static final String CODE = "code";
    static final String MSG = "msg";
    static final String DETAILS = "details";
}
