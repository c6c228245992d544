package io.enilb.ctl;

import java.io.IOException;
import java.io.PrintStream;
import java.net.ConnectException;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.stream.Stream;

import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/**
 * {@code enilbctl flows}: the datapath's flow events from {@code GET /v1/flows}: the recent ones
 * as a table, or with {@code --follow} every new one as it happens; {@code --json} prints the
 * JSON (with --follow: one object per line).
 */
final class FlowsCommand {
    static final String NAME = "flows";
    static final String USAGE_TEXT = """
            usage: enilbctl [--health HOST:PORT] flows [--follow] [--service NS/NAME] [--pod ID|IP]
                            [--verdict new|reject|drop[,...]] [--since 5m|ISO-8601] [--json]
              --follow   keep printing events as they happen (Ctrl-C stops)
              --service  only this Service
              --pod      only this pod: container id (or its first characters) or address
              --verdict  only these verdicts
              --since    only events after this instant, or this long ago
              --json     JSON instead of a table (with --follow, one object per line)
            """;
    private static final String FORMAT = "%-12s  %-7s  %-12s  %-21s  %-24s  %-26s  %s%n";
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(5);

    private final PrintStream out;
    private final PrintStream err;

    FlowsCommand(PrintStream out, PrintStream err) {
        this.out = out;
        this.err = err;
    }

    int run(HealthClient client, boolean json, String[] args) throws HealthClient.NotRunning, IOException {
        boolean follow = false;
        List<String> query = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            switch (arg) {
                case "--follow", "-f" -> follow = true;
                case "--json" -> json = true;
                case "-h", "--help" -> {
                    out.print(USAGE_TEXT);
                    return Enilbctl.OK;
                }
                case "--service", "--pod", "--verdict", "--since" -> {
                    if (i + 1 == args.length) {
                        return usage(arg + " needs a value");
                    }
                    query.add(arg.substring(2) + "=" + URLEncoder.encode(args[++i], StandardCharsets.UTF_8));
                }
                default -> {
                    return usage("unknown option " + arg);
                }
            }
        }
        if (follow) {
            query.add("follow=true");
        }
        String path = "/v1/flows" + (query.isEmpty() ? "" : "?" + String.join("&", query));
        return follow ? follow(client, path, json) : recent(client, path, json);
    }

    private int usage(String problem) {
        err.println("enilbctl flows: " + problem);
        err.print(USAGE_TEXT);
        return Enilbctl.USAGE;
    }

    private int recent(HealthClient client, String path, boolean json) throws HealthClient.NotRunning, IOException {
        HealthClient.Response response = client.get(path);
        if (response.status() != 200) {
            return refused(response.status(), response.body());
        }
        JsonObject body = new JsonObject(response.body());
        if (json) {
            out.println(body.encodePrettily());
            return Enilbctl.OK;
        }
        printHeader();
        JsonArray flows = body.getJsonArray("flows", new JsonArray());
        for (int i = 0; i < flows.size(); i++) {
            printRow(flows.getJsonObject(i));
        }
        JsonObject lost = body.getJsonObject("lost", new JsonObject());
        long total = lost.getLong("rate", 0L) + lost.getLong("ringFull", 0L) + lost.getLong("daemon", 0L);
        if (total > 0) {
            err.println("lost so far: " + lost.getLong("rate", 0L) + " over the rate, " + lost.getLong("ringFull", 0L)
                    + " to a full ring buffer, " + lost.getLong("daemon", 0L) + " in enilbd");
        }
        return Enilbctl.OK;
    }

    private int follow(HealthClient client, String path, boolean json) throws HealthClient.NotRunning, IOException {
        HttpClient http = HttpClient.newBuilder().connectTimeout(CONNECT_TIMEOUT).build();
        HttpRequest request = HttpRequest.newBuilder(client.uri(path)).header("accept", "application/x-ndjson").GET()
                .build();
        HttpResponse<Stream<String>> response;
        try {
            response = http.send(request, HttpResponse.BodyHandlers.ofLines());
        } catch (ConnectException | HttpConnectTimeoutException e) {
            throw new HealthClient.NotRunning("enilbd is not running (no answer on " + client.address() + ")");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
        try (Stream<String> lines = response.body()) {
            if (response.statusCode() != 200) {
                return refused(response.statusCode(), String.join("\n", lines.toList()));
            }
            if (!json) {
                printHeader();
            }
            for (Iterator<String> it = lines.iterator(); it.hasNext(); ) {
                String line = it.next();
                if (line.isBlank()) {
                    continue;
                }
                if (json) {
                    out.println(line);
                } else {
                    JsonObject event = new JsonObject(line);
                    if (event.containsKey("skipped")) {
                        err.println("(" + event.getLong("skipped") + " events skipped: this client read too slowly)");
                    } else {
                        printRow(event);
                    }
                }
                out.flush();
            }
        } catch (DecodeException e) {
            throw new IOException("enilbd sent something that is not JSON: " + e.getMessage());
        }
        err.println("enilbd closed the stream");
        return Enilbctl.FAILED;
    }

    private int refused(int status, String body) {
        String message;
        try {
            message = new JsonObject(body).getString("error", body.strip());
        } catch (DecodeException e) {
            message = body.strip();
        }
        err.println("enilbctl flows: " + message);
        return status == 400 ? Enilbctl.USAGE : Enilbctl.FAILED;
    }

    private void printHeader() {
        out.printf(FORMAT, "TIME", "VERDICT", "POD", "CLIENT", "SERVICE", "FRONTEND", "BACKEND / REASON");
    }

    private void printRow(JsonObject f) {
        String time = f.getString("time", "");
        int t = time.indexOf('T');
        String clock = t < 0 ? time : time.substring(t + 1, Math.min(time.length(), t + 13));
        String pod = f.getString("pod", "");
        String outcome = f.containsKey("backend") ? f.getString("backend") + " (" + f.getString("via", "") + ")"
                : f.getString("reason", "");
        out.printf(FORMAT, clock, f.getString("verdict", ""), pod.isEmpty() ? "-" : Enilbctl.shortId(pod),
                f.getString("client", ""), f.getString("service", "").isEmpty() ? "-" : f.getString("service"),
                f.getString("frontend", ""), outcome);
    }
}
