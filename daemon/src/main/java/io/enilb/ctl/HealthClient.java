package io.enilb.ctl;

import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;

/** GETs from enilbd's health server. */
final class HealthClient {
    private final String address;
    private final URI base;
    private final Duration timeout;
    private final HttpClient http;

    /**
     * @param address {@code host:port} or {@code [v6]:port} as in {@code health.listen}; a wildcard
     *                host (0.0.0.0, ::) means this host's loopback
     */
    HealthClient(String address, Duration timeout) {
        this.address = address;
        this.base = URI.create("http://" + connectable(address));
        this.timeout = timeout;
        this.http = HttpClient.newBuilder().connectTimeout(timeout).build();
    }

    static String connectable(String address) {
        int colon = address.lastIndexOf(':');
        if (colon <= 0 || colon == address.length() - 1) {
            throw new IllegalArgumentException("not host:port: " + address);
        }
        String host = address.substring(0, colon);
        String port = address.substring(colon + 1);
        try {
            int p = Integer.parseInt(port);
            if (p < 1 || p > 65535) {
                throw new IllegalArgumentException("port out of range in " + address);
            }
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("not host:port: " + address);
        }
        String bare = host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
        if (bare.equals("0.0.0.0") || bare.isEmpty()) {
            return "127.0.0.1:" + port;
        }
        if (bare.equals("::")) {
            return "[::1]:" + port;
        }
        return (bare.contains(":") ? "[" + bare + "]" : bare) + ":" + port;
    }

    String address() {
        return address;
    }

    /** The URI of a path on the health server. */
    java.net.URI uri(String path) {
        return base.resolve(path);
    }

    /** A response whatever its status. */
    record Response(int status, String body) {
    }

    /** @throws NotRunning when nothing answers */
    Response get(String path) throws NotRunning, IOException {
        HttpRequest request = HttpRequest.newBuilder(base.resolve(path)).timeout(timeout).GET().build();
        try {
            HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
            return new Response(response.statusCode(), response.body());
        } catch (ConnectException | HttpConnectTimeoutException e) {
            throw new NotRunning("enilbd is not running (no answer on " + address + ")");
        } catch (HttpTimeoutException e) {
            throw new NotRunning("enilbd does not answer on " + address + " within " + timeout.toSeconds() + " s");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }

    /** Nothing answers at the health address. */
    static final class NotRunning extends Exception {
        NotRunning(String message) {
            super(message, null, false, false);
        }
    }
}
