package io.enilb.cni.plugin;

import java.util.Map;

/** A CNI error result: printed on stdout as {@code {"cniVersion","code","msg","details"}}, exit 1. */
final class CniError extends Exception {
    /** Incompatible CNI version. */
    static final int INCOMPATIBLE_VERSION = 1;
    /** Invalid necessary environment variables. */
    static final int INVALID_ENVIRONMENT = 4;
    /** Failed to decode content. */
    static final int DECODING_FAILURE = 6;
    /** Invalid network config. */
    static final int INVALID_CONFIG = 7;
    /** Try again later: here, enilbd is not reachable. */
    static final int TRY_AGAIN_LATER = 11;
    /** enilb's own failures. */
    static final int PLUGIN_FAILURE = 999;

    final int code;
    final String details;

    CniError(int code, String msg, String details) {
        // an expected outcome, reported as JSON: no stack trace needed (and none is paid for)
        super(msg, null, false, false);
        this.code = code;
        this.details = details == null ? "" : details;
    }

    CniError(int code, String msg) {
        this(code, msg, "");
    }

    Map<String, Object> toJson(String cniVersion) {
        Map<String, Object> json = Json.object("cniVersion", cniVersion, "code", Json.Num.of(code), "msg", getMessage());
        if (!details.isEmpty()) {
            json.put("details", details);
        }
        return json;
    }
}
