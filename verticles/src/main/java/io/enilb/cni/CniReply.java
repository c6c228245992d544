package io.enilb.cni;

import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;

/**
 * The daemon's answer to one request: a result or a CNI error.
 *
 * @param result the result object (prevResult for ADD, empty otherwise); null for an error
 * @param error  the failure; null for a result
 */
public record CniReply(JsonObject result, CniFailure error) {

    public static CniReply ok(JsonObject result) {
        return new CniReply(result.copy(), null);
    }

    public static CniReply ok() {
        return new CniReply(new JsonObject(), null);
    }

    public static CniReply error(int code, String message, String details) {
        return new CniReply(null, new CniFailure(code, message, details));
    }

    /** The reply for a failed request: its {@link CniFailure}, or code 999 with the exception's message. */
    public static CniReply failed(Throwable cause) {
        if (cause instanceof CniFailure failure) {
            return new CniReply(null, failure);
        }
        String message = cause.getMessage() == null ? cause.getClass().getSimpleName() : cause.getMessage();
        return error(CniWire.PLUGIN_FAILURE, message, "");
    }

    public boolean isOk() {
        return error == null;
    }

    public JsonObject toJson() {
        if (error == null) {
            return new JsonObject().put(CniWire.RESULT, result);
        }
        JsonObject json = new JsonObject()
                .put(CniWire.CODE, error.code())
                .put(CniWire.MSG, error.getMessage());
        if (!error.details().isEmpty()) {
            json.put(CniWire.DETAILS, error.details());
        }
        return new JsonObject().put(CniWire.ERROR, json);
    }

    public Buffer toBuffer() {
        return toJson().toBuffer();
    }
}
