package io.enilb.lab;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The real daemon as a process of its own, on the file source, with a socket, health port, pin
 * root and state directory of its own, so it never meets another enilbd on the machine. Its
 * output goes to a log file; {@link #close()} stops it and removes what it made (pins included).
 */
public final class DaemonProcess implements AutoCloseable {
    private final Path home;
    private final Path work;
    private final Path servicesDir;
    private final Path socket;
    private final Path pinRoot;
    private final Path log;
    private final Path configFile;
    private final int healthPort;
    private final Map<String, String> extraEnv;
    private Process process;

    /** Prepares (does not start) a daemon whose distribution is at {@code home} (daemon/target/enilb). */
    public DaemonProcess(Path home, Map<String, String> extraEnv) {
        this.home = home;
        this.extraEnv = Map.copyOf(extraEnv);
        try {
            work = Files.createTempDirectory("enilbd-");
            servicesDir = Files.createDirectories(work.resolve("services"));
            healthPort = freePort();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        socket = work.resolve("run/cni.sock");
        pinRoot = Path.of("/sys/fs/bpf/enilb-e2e-" + UUID.randomUUID().toString().substring(0, 8));
        log = work.resolve("enilbd.log");
        configFile = work.resolve("enilb.yaml");
        writeConfig("");
    }

    /** The distribution built by {@code mvn package}: the system property enilb.dist, else daemon/target/enilb. */
    public static Path distribution() {
        String d = System.getProperty("enilb.dist");
        return d != null ? Path.of(d) : Path.of("daemon/target/enilb").toAbsolutePath();
    }

    /** Rewrites the configuration file; {@code extraYaml} adds top-level keys. */
    public void writeConfig(String extraYaml) {
        String yaml = "source: file\n"
                + "file: {dir: " + servicesDir + "}\n"
                + "cni: {socket: " + socket + "}\n"
                + "health: {listen: \"127.0.0.1:" + healthPort + "\"}\n"
                + "bpf: {pin-root: " + pinRoot + ", max-services: 4096, max-backends: 16384, ct-size: 65536}\n"
                + "state: {dir: " + stateDir() + "}\n"
                + "natmap: {linger-ms: 2}\n"
                + "service-cidr: 198.19.0.0/16\n"
                + "service-cidr6: \"2001:db8:19::/108\"\n"
                + extraYaml;
        try {
            Files.writeString(configFile, yaml);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    public Path configFile() {
        return configFile;
    }

    public Path socket() {
        return socket;
    }

    public Path pinRoot() {
        return pinRoot;
    }

    /** {@code state.dir}: the attach verticle keeps its pod records in {@code pods/} there. */
    public Path stateDir() {
        return work.resolve("state");
    }

    public int healthPort() {
        return healthPort;
    }

    public Path log() {
        return log;
    }

    /** Writes (or replaces) one YAML file of the file source. */
    public void putServices(String fileName, String yaml) {
        try {
            Path tmp = servicesDir.resolve("." + fileName + ".tmp");
            Files.writeString(tmp, yaml);
            Files.move(tmp, servicesDir.resolve(fileName), java.nio.file.StandardCopyOption.ATOMIC_MOVE,
                    java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    public void removeServices(String fileName) {
        try {
            Files.deleteIfExists(servicesDir.resolve(fileName));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Starts the daemon; returns once /readyz answers 200 (at most {@code timeout}). */
    public DaemonProcess startAndAwaitReady(Duration timeout) {
        start();
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IllegalStateException("enilbd exited with " + process.exitValue() + ":\n" + logText());
            }
            if (readyStatus() == 200) {
                return this;
            }
            pause(50);
        }
        throw new IllegalStateException("enilbd not ready after " + timeout + ":\n" + logText());
    }

    /** Starts the daemon without waiting. */
    public Process start() {
        List<String> cmd = new ArrayList<>(List.of(home.resolve("bin/enilbd").toString(), "--config", configFile.toString()));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        pb.environment().keySet().removeIf(k -> k.startsWith("ENILB_") || k.equals("NOTIFY_SOCKET") || k.startsWith("WATCHDOG_"));
        pb.environment().putAll(extraEnv);
        try {
            process = pb.start();
        } catch (IOException e) {
            throw new IllegalStateException("cannot start enilbd: " + e.getMessage(), e);
        }
        return process;
    }

    public Process process() {
        return process;
    }

    /** HTTP status of GET /readyz, or -1 when nothing answers. */
    public int readyStatus() {
        return get("/readyz").status;
    }

    /** One GET on the health port. */
    public Response get(String path) {
        try {
            HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + healthPort + path))
                    .timeout(Duration.ofSeconds(2)).build(), HttpResponse.BodyHandlers.ofString());
            return new Response(r.statusCode(), r.body());
        } catch (IOException e) {
            return new Response(-1, e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Response(-1, "interrupted");
        }
    }

    public record Response(int status, String body) {
    }

    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(1)).build();

    /** Sends SIGTERM and waits (at most 10 s); returns the exit status. */
    public int terminate() {
        return signal(false);
    }

    /** Sends SIGKILL: the daemon gets no chance to clean anything up. */
    public int kill() {
        return signal(true);
    }

    private int signal(boolean kill) {
        if (process == null) {
            return -1;
        }
        if (kill) {
            process.destroyForcibly();
        } else {
            process.destroy();
        }
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(5, TimeUnit.SECONDS);
                throw new IllegalStateException("enilbd did not stop within 10 s");
            }
            return process.exitValue();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    /**
     * The samples of /metrics whose name starts with {@code prefix}, by their series as printed
     * (name and labels, e.g. {@code enilb_flow_events_lost_total{reason="rate"}}).
     */
    public Map<String, Double> metrics(String prefix) {
        Map<String, Double> out = new java.util.TreeMap<>();
        for (String line : get("/metrics").body().lines().toList()) {
            if (line.startsWith(prefix)) {
                int space = line.lastIndexOf(' ');
                out.put(line.substring(0, space), Double.parseDouble(line.substring(space + 1)));
            }
        }
        return out;
    }

    public String logText() {
        try {
            return Files.exists(log) ? Files.readString(log, StandardCharsets.UTF_8) : "";
        } catch (IOException e) {
            return e.toString();
        }
    }

    @Override
    public void close() {
        if (process != null && process.isAlive()) {
            process.destroyForcibly();
            try {
                process.waitFor(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        // the socket hooks sit on the host's cgroup v2 root: they go first, with their pins
        new io.enilb.bpf.SocketHooks(pinRoot).detach();
        io.enilb.bpf.BpfObject.unpinAll(pinRoot);
        try (Stream<Path> files = Files.walk(work)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // temp files only
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    private static void pause(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
