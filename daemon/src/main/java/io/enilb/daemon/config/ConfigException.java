package io.enilb.daemon.config;

/**
 * A configuration that cannot be used. The message names the key (or the file) first, so that
 * {@code enilbd} can print it as it is and exit with status 2.
 */
public final class ConfigException extends RuntimeException {
    private final String key;
    private final String reason;

    /**
     * @param key    the dotted key ({@code health.listen}), or the file when the file as a whole is bad
     * @param reason what is wrong, for example {@code expected host:port, got 'x'}
     */
    public ConfigException(String key, String reason) {
        super(key + ": " + reason, null, false, false);
        this.key = key;
        this.reason = reason;
    }

    public String key() {
        return key;
    }

    public String reason() {
        return reason;
    }
}
