package io.enilb.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.enilb.lab.Lab;

/** One wrk run inside a namespace of the lab, and what it printed. */
final class Wrk {
    private static final Pattern RATE = Pattern.compile("Requests/sec:\\s+([0-9.]+)");
    private static final Pattern SOCKET_ERRORS =
            Pattern.compile("Socket errors: connect (\\d+), read (\\d+), write (\\d+), timeout (\\d+)");
    private static final Pattern NON_2XX = Pattern.compile("Non-2xx or 3xx responses: (\\d+)");

    /** Requests per second and the errors wrk counted (socket errors plus non-2xx answers). */
    record Outcome(double requestsPerSecond, long errors, String output) {
    }

    private Wrk() {
    }

    /**
     * Runs wrk in {@code namespace} against {@code url}: {@code threads} threads, {@code connections}
     * connections, {@code seconds} long, with {@code Connection: close} when {@code shortConnections};
     * on {@code cpu} when it is not negative.
     */
    static Outcome run(Lab lab, String namespace, String url, boolean shortConnections, int threads, int connections,
            int seconds, int cpu) {
        List<String> command = new ArrayList<>();
        if (cpu >= 0) {
            command.addAll(List.of("taskset", "-c", Integer.toString(cpu)));
        }
        command.addAll(List.of("wrk", "-t" + threads, "-c" + connections, "-d" + seconds + "s", "--timeout", "2s"));
        if (shortConnections) {
            command.addAll(List.of("-H", "Connection: close"));
        }
        command.add(url);
        Lab.Result r = lab.tryExec(namespace, seconds + 20L, command.toArray(String[]::new));
        Matcher rate = RATE.matcher(r.output());
        if (!r.ok() || !rate.find()) {
            throw new IllegalStateException("wrk against " + url + " failed (" + r.status() + "): " + r.output().strip());
        }
        long errors = 0;
        Matcher socket = SOCKET_ERRORS.matcher(r.output());
        if (socket.find()) {
            for (int g = 1; g <= 4; g++) {
                errors += Long.parseLong(socket.group(g));
            }
        }
        Matcher non2xx = NON_2XX.matcher(r.output());
        if (non2xx.find()) {
            errors += Long.parseLong(non2xx.group(1));
        }
        return new Outcome(Double.parseDouble(rate.group(1)), errors, r.output());
    }
}
