package io.enilb.cni;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;

/**
 * How the CNI socket listens (config keys {@code cni.socket}, {@code cni.allowed-uids},
 * {@code cni.max-request-bytes}, {@code cni.read-timeout-ms}).
 *
 * @param socket          path of the unix socket; its directory is created with mode 0700
 * @param allowedUids     peer uids (SO_PEERCRED) whose requests are served
 * @param maxRequestBytes a longer request is refused
 * @param readTimeout     a request not complete within this time is refused
 */
public record CniSocketSettings(Path socket, Set<Integer> allowedUids, int maxRequestBytes, Duration readTimeout) {
    public static final Path DEFAULT_SOCKET = Path.of("/run/enilb/cni.sock");
    public static final Set<Integer> DEFAULT_ALLOWED_UIDS = Set.of(0);
    public static final int DEFAULT_MAX_REQUEST_BYTES = 65536;
    public static final Duration DEFAULT_READ_TIMEOUT = Duration.ofMillis(2000);

    public CniSocketSettings {
        allowedUids = Set.copyOf(allowedUids);
        if (maxRequestBytes <= 0) {
            throw new IllegalArgumentException("cni.max-request-bytes must be positive: " + maxRequestBytes);
        }
        if (readTimeout.isNegative() || readTimeout.isZero()) {
            throw new IllegalArgumentException("cni.read-timeout-ms must be positive: " + readTimeout.toMillis());
        }
    }

    /** The defaults, listening on {@code socket}. */
    public static CniSocketSettings defaults(Path socket) {
        return new CniSocketSettings(socket, DEFAULT_ALLOWED_UIDS, DEFAULT_MAX_REQUEST_BYTES, DEFAULT_READ_TIMEOUT);
    }

    public CniSocketSettings withAllowedUids(Set<Integer> uids) {
        return new CniSocketSettings(socket, uids, maxRequestBytes, readTimeout);
    }
}
