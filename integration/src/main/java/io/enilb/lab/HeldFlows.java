package io.enilb.lab;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import io.vertx.core.json.Json;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/**
 * Flows a pod keeps open between the steps of a test (resources/lab/flows.py): long-lived TCP
 * connections, connected UDP sockets, and a crowd of open connections that fill the conntrack
 * table. Every call waits for the holder's one-line answer.
 */
public final class HeldFlows implements AutoCloseable {
    private final Process process;
    private final Writer in;
    private final BufferedReader out;

    HeldFlows(Pod pod) {
        process = pod.lab().interactive(pod.namespace(), "python3", "-u", pod.lab().flowsScript().toString());
        in = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
        out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        String ready = answer("", 10);
        if (!"ready".equals(ready)) {
            throw new IllegalStateException("flow holder did not start: " + ready);
        }
    }

    /** Long-lived connections to {@code n} distinct backends of ip:port; the backends' names. */
    public JsonArray tcp(String ip, int port, int n) {
        return new JsonArray(command("tcp " + ip + " " + port + " " + n, 60));
    }

    /** A UDP socket with a fixed source port; the name of the backend that answered its first datagram. */
    public String udp(String ip, int port) {
        return (String) Json.decodeValue(command("udp " + ip + " " + port, 10));
    }

    /**
     * One datagram by sendto() from the pod's one unconnected UDP socket of ip's family (kept
     * between calls); the name of the backend that answered.
     */
    public String sendto(String ip, int port) {
        return (String) Json.decodeValue(command("sendto " + ip + " " + port, 10));
    }

    /** Later flows leave from {@code ip}:{@code port} (0: any port), an address this pod does not own. */
    public void bind(String ip, int port) {
        command("bind " + ip + " " + port, 10);
    }

    /** Up to {@code n} more open connections; {"ok": n, "fail": k}. */
    public JsonObject open(String ip, int port, int n) {
        return new JsonObject(command("open " + ip + " " + port + " " + n, 600));
    }

    /** One exchange on every held flow: [{"kind", "backend", "answer", "sport"}, ..., {"kind": "open", ...}]. */
    public JsonArray ping() {
        return new JsonArray(command("ping", 600));
    }

    /** Closes the connections {@link #open} made. */
    public void drop() {
        command("drop", 60);
    }

    private String command(String line, long timeoutSeconds) {
        String answer = answer(line + "\n", timeoutSeconds);
        if (answer == null) {
            throw new IllegalStateException("flow holder ended on '" + line + "'");
        }
        return answer;
    }

    private synchronized String answer(String line, long timeoutSeconds) {
        CompletableFuture<String> next = CompletableFuture.supplyAsync(() -> {
            try {
                if (!line.isEmpty()) {
                    in.write(line);
                    in.flush();
                }
                return out.readLine();
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        });
        try {
            return next.get(timeoutSeconds, TimeUnit.SECONDS);
        } catch (Exception e) {
            process.destroyForcibly();
            throw new IllegalStateException("flow holder: no answer to '" + line.strip() + "': " + e, e);
        }
    }

    @Override
    public void close() {
        try {
            in.write("exit\n");
            in.flush();
        } catch (IOException ignored) {
            // it ended already
        }
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.destroyForcibly();
        }
    }
}
