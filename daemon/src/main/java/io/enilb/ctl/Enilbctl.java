package io.enilb.ctl;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * enilbctl: reads a running enilbd through its health server and prints tables (or, with
 * {@code --json}, the JSON).
 *
 * <pre>
 * enilbctl [--health HOST:PORT] [--json] status|services|endpoints|programs|counters
 * enilbctl cni install|uninstall [--bin-dir DIR] [--net-dir DIR] [--socket PATH]
 * enilbctl cgroup mount
 * </pre>
 *
 * Exit status: 0 done (status: ready), 1 enilbd not running or the request failed, 2 usage,
 * 3 (status only) running but not ready.
 */
public final class Enilbctl {
    static final String DEFAULT_HEALTH = "127.0.0.1:9876";
    static final String HEALTH_ENV = "ENILB_HEALTH_LISTEN";
    static final String DEFAULT_CNI_SOCKET = "/run/enilb/cni.sock";
    static final int OK = 0;
    static final int FAILED = 1;
    static final int USAGE = 2;
    static final int NOT_READY = 3;
    private static final Duration TIMEOUT = Duration.ofSeconds(5);
    private static final String USAGE_TEXT = """
            usage: enilbctl [--health HOST:PORT] [--json] COMMAND
              status     liveness, readiness and why not, what is loaded
              services   Services: frontends, program state, backends
              endpoints  pods whose NIC carries enilb's programs
              programs   loaded BPF programs and where they are attached
              counters   packets, bytes and new flows per Service frontend; drops; CNI requests
              flows      recent flow events (new flow, reject, drop); flows --help for its options
            --health     enilbd's health.listen (default $ENILB_HEALTH_LISTEN, else 127.0.0.1:9876)
            --json       print JSON instead of tables
            enilbctl cni install|uninstall   the plugin and the node's CNI chain (enilbctl cni --help)
            enilbctl cgroup mount            the node's cgroup v2 root for socket-lb (enilbctl cgroup --help)
            """;

    private final PrintStream out;
    private final PrintStream err;

    /** The distribution enilbctl runs from (its launcher sets enilb.home): what cni install copies. */
    private final Path home;

    Enilbctl(PrintStream out, PrintStream err) {
        this(out, err, Path.of(System.getProperty("enilb.home", ".")));
    }

    Enilbctl(PrintStream out, PrintStream err, Path home) {
        this.out = out;
        this.err = err;
        this.home = home;
    }

    public static void main(String[] args) {
        System.exit(new Enilbctl(System.out, System.err).run(args, System.getenv()));
    }

    int run(String[] args, Map<String, String> env) {
        if (args.length > 0 && args[0].equals("cni")) {
            return cni(java.util.Arrays.copyOfRange(args, 1, args.length));
        }
        if (args.length > 0 && args[0].equals("cgroup")) {
            return cgroup(java.util.Arrays.copyOfRange(args, 1, args.length), env);
        }
        String health = env.getOrDefault(HEALTH_ENV, "");
        if (health.isBlank()) {
            health = DEFAULT_HEALTH;
        }
        boolean json = false;
        String command = null;
        String[] rest = new String[0];
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            if (arg.equals("--json")) {
                json = true;
            } else if (arg.equals("--health")) {
                if (i + 1 == args.length) {
                    return usage("--health needs HOST:PORT");
                }
                health = args[++i];
            } else if (arg.startsWith("--health=")) {
                health = arg.substring("--health=".length());
            } else if (arg.equals("-h") || arg.equals("--help") || arg.equals("help")) {
                out.print(USAGE_TEXT);
                return OK;
            } else if (arg.startsWith("-")) {
                return usage("unknown option " + arg);
            } else if (command == null) {
                command = arg;
                if (command.equals(FlowsCommand.NAME)) {
                    // flows has options of its own: they are its to parse
                    rest = java.util.Arrays.copyOfRange(args, i + 1, args.length);
                    break;
                }
            } else {
                return usage("one command at a time (got " + command + " and " + arg + ")");
            }
        }
        if (command == null) {
            return usage("no command");
        }
        HealthClient client;
        try {
            client = new HealthClient(health, TIMEOUT);
        } catch (IllegalArgumentException e) {
            return usage("--health: " + e.getMessage());
        }
        try {
            return switch (command) {
                case "status" -> status(client, json);
                case "services" -> services(client, json);
                case "endpoints" -> endpoints(client, json);
                case "programs" -> programs(client, json);
                case "counters" -> counters(client, json);
                case FlowsCommand.NAME -> new FlowsCommand(out, err).run(client, json, rest);
                default -> usage("unknown command " + command);
            };
        } catch (HealthClient.NotRunning e) {
            err.println(e.getMessage());
            return FAILED;
        } catch (IOException | RuntimeException e) {
            err.println("enilbctl " + command + ": " + e.getMessage());
            return FAILED;
        }
    }

    /** {@code enilbctl cni install|uninstall}: works on the node's files, not on a running enilbd. */
    private int cni(String[] args) {
        String command = null;
        Path binDir = Path.of("/opt/cni/bin");
        Path netDir = Path.of("/etc/cni/net.d");
        String socket = null;
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            boolean hasValue = i + 1 < args.length;
            switch (arg) {
                case "--bin-dir", "--net-dir", "--socket" -> {
                    if (!hasValue) {
                        return cniUsage(arg + " needs a value");
                    }
                    String value = args[++i];
                    if (arg.equals("--bin-dir")) {
                        binDir = Path.of(value);
                    } else if (arg.equals("--net-dir")) {
                        netDir = Path.of(value);
                    } else {
                        socket = value.equals(DEFAULT_CNI_SOCKET) ? null : value;
                    }
                }
                case "-h", "--help" -> {
                    out.print(CniInstall.USAGE);
                    return OK;
                }
                default -> {
                    if (arg.startsWith("-") || command != null) {
                        return cniUsage("unexpected " + arg);
                    }
                    command = arg;
                }
            }
        }
        if (command == null || !(command.equals("install") || command.equals("uninstall"))) {
            return cniUsage(command == null ? "install or uninstall?" : "unknown command cni " + command);
        }
        CniInstall installer = new CniInstall(out, home);
        try {
            if (command.equals("install")) {
                installer.install(binDir, netDir, socket);
            } else {
                installer.uninstall(binDir, netDir);
            }
            return OK;
        } catch (CniInstall.Failed e) {
            err.println("enilbctl cni " + command + ": " + e.getMessage() + " (nothing changed)");
            return FAILED;
        } catch (IOException | RuntimeException e) {
            err.println("enilbctl cni " + command + ": " + e);
            return FAILED;
        }
    }

    /** {@code enilbctl cgroup mount}: the DaemonSet's mount-cgroup init container ({@link CgroupMount}). */
    private int cgroup(String[] args, Map<String, String> env) {
        if (args.length == 1 && (args[0].equals("-h") || args[0].equals("--help"))) {
            out.print(CgroupMount.USAGE);
            return OK;
        }
        if (args.length != 1 || !args[0].equals("mount")) {
            err.println("enilbctl cgroup: " + (args.length == 0 ? "mount?" : "unexpected " + String.join(" ", args)));
            err.print(CgroupMount.USAGE);
            return USAGE;
        }
        try {
            new CgroupMount(out).mount(env);
            return OK;
        } catch (CniInstall.Failed e) {
            err.println("enilbctl cgroup mount: " + e.getMessage());
            return FAILED;
        } catch (IOException | RuntimeException e) {
            err.println("enilbctl cgroup mount: " + e);
            return FAILED;
        }
    }

    private int cniUsage(String problem) {
        err.println("enilbctl cni: " + problem);
        err.print(CniInstall.USAGE);
        return USAGE;
    }

    private int usage(String problem) {
        err.println("enilbctl: " + problem);
        err.print(USAGE_TEXT);
        return USAGE;
    }

    private JsonObject getJson(HealthClient client, String path) throws HealthClient.NotRunning, IOException {
        HealthClient.Response response = client.get(path);
        if (response.status() != 200) {
            throw new IOException("GET " + path + " answered " + response.status() + ": " + response.body().strip());
        }
        return new JsonObject(response.body());
    }

    private int status(HealthClient client, boolean json) throws HealthClient.NotRunning, IOException {
        HealthClient.Response live = client.get("/healthz");
        HealthClient.Response ready = client.get("/readyz");
        JsonObject readiness = new JsonObject(ready.body());
        JsonObject services = getJson(client, "/v1/services");
        JsonObject endpoints = getJson(client, "/v1/endpoints");
        JsonObject programs = getJson(client, "/v1/programs");
        boolean isReady = ready.status() == 200;
        if (json) {
            out.println(new JsonObject()
                    .put("address", client.address())
                    .put("live", live.status() == 200)
                    .put("ready", isReady)
                    .put("reasons", readiness.getJsonObject("reasons", new JsonObject()))
                    .put("source", services.getString("source"))
                    .put("synced", services.getBoolean("synced", false))
                    .put("services", services.getJsonArray("services", new JsonArray()).size())
                    .put("pods", endpoints.getJsonArray("pods", new JsonArray()).size())
                    .put("datapathLoaded", programs.getBoolean("loaded", false))
                    .encodePrettily());
            return isReady ? OK : NOT_READY;
        }
        Table summary = new Table("WHAT", "STATE");
        summary.row("enilbd", (live.status() == 200 ? "live" : "not live") + " on " + client.address());
        summary.row("ready", isReady ? "yes" : "no");
        summary.row("source", services.getString("source", "-") + (services.getBoolean("synced", false)
                ? ", synced" : ", not synced"));
        summary.row("datapath", programs.getBoolean("loaded", false) ? "loaded" : "not loaded");
        summary.row("services", services.getJsonArray("services", new JsonArray()).size());
        summary.row("pods", endpoints.getJsonArray("pods", new JsonArray()).size());
        out.print(summary.render());
        JsonObject reasons = readiness.getJsonObject("reasons", new JsonObject());
        if (!reasons.isEmpty()) {
            Table why = new Table("COMPONENT", "NOT READY BECAUSE");
            new TreeMap<>(reasons.getMap()).forEach((component, reason) -> why.row(component, reason));
            out.println();
            out.print(why.render());
        }
        JsonObject sourceErrors = services.getJsonObject("sourceErrors", new JsonObject());
        if (!sourceErrors.isEmpty()) {
            Table errors = new Table("SOURCE PROBLEM", "WHAT");
            new TreeMap<>(sourceErrors.getMap()).forEach((what, problem) -> errors.row(what, problem));
            out.println();
            out.print(errors.render());
        }
        return isReady ? OK : NOT_READY;
    }

    private int services(HealthClient client, boolean json) throws HealthClient.NotRunning, IOException {
        JsonObject body = getJson(client, "/v1/services");
        if (json) {
            out.println(body.encodePrettily());
            return OK;
        }
        out.print(servicesTable(body).render());
        return OK;
    }

    static Table servicesTable(JsonObject body) {
        Table table = new Table("SERVICE", "FRONTEND", "STATE", "SVC-ID#", "BACKENDS", "ERROR");
        for (JsonObject service : objects(body.getJsonArray("services"))) {
            for (JsonObject frontend : objects(service.getJsonArray("frontends"))) {
                List<String> backends = new ArrayList<>();
                for (JsonObject backend : objects(frontend.getJsonArray("backends"))) {
                    String ip = backend.getString("ip");
                    backends.add((ip.indexOf(':') >= 0 ? "[" + ip + "]" : ip) + ":" + backend.getValue("port")
                            + ("terminating".equals(backend.getString("state")) ? "(terminating)" : ""));
                }
                table.row(service.getString("service"), frontend.getString("frontend"), frontend.getString("state"),
                        frontend.getValue("svcId"), backends.isEmpty() ? "none" : String.join(",", backends),
                        frontend.getString("error", ""));
            }
        }
        return table;
    }

    private int endpoints(HealthClient client, boolean json) throws HealthClient.NotRunning, IOException {
        JsonObject body = getJson(client, "/v1/endpoints");
        if (json) {
            out.println(body.encodePrettily());
            return OK;
        }
        out.print(endpointsTable(body).render());
        return OK;
    }

    static Table endpointsTable(JsonObject body) {
        Table table = new Table("CONTAINER", "IFNAME", "IPS", "NETNS");
        for (JsonObject pod : objects(body.getJsonArray("pods"))) {
            List<String> ips = new ArrayList<>();
            pod.getJsonArray("ips", new JsonArray()).forEach(ip -> ips.add(String.valueOf(ip)));
            table.row(shortId(pod.getString("containerId", "")), pod.getString("ifName"), String.join(",", ips),
                    pod.getString("netns"));
        }
        return table;
    }

    private int programs(HealthClient client, boolean json) throws HealthClient.NotRunning, IOException {
        JsonObject body = getJson(client, "/v1/programs");
        if (json) {
            out.println(body.encodePrettily());
            return OK;
        }
        if (!body.getBoolean("loaded", false)) {
            out.println("the datapath is not loaded");
            return OK;
        }
        out.print(programsTable(body).render());
        out.println("pod devices: " + switch (body.getString("tcAttach", "")) {
            case "tcx" -> "tcx links";
            case "clsact" -> "clsact filters";
            default -> "tcx links where the kernel has them, else clsact filters (no pod attached yet)";
        });
        return OK;
    }

    static Table programsTable(JsonObject body) {
        Table table = new Table("PROGRAM", "ID#", "CONTAINER", "DEVICE", "DIRECTION");
        for (JsonObject program : objects(body.getJsonArray("programs"))) {
            List<JsonObject> where = objects(program.getJsonArray("attachedTo"));
            if (where.isEmpty()) {
                table.row(program.getString("name"), program.getValue("id"), "(not attached)");
            }
            for (JsonObject hook : where) {
                table.row(program.getString("name"), program.getValue("id"),
                        shortId(hook.getString("containerId", "")), hook.getString("device"),
                        hook.getString("direction"));
            }
        }
        return table;
    }

    /**
     * {@code GET /v1/counters}: {@code {"services":[{"service","frontend","packets","bytes","newFlows"}],
     * "drops":{reason:n},"cni":[{"command","outcome","requests"}]}}.
     */
    private int counters(HealthClient client, boolean json) throws HealthClient.NotRunning, IOException {
        HealthClient.Response response = client.get("/v1/counters");
        if (response.status() != 200) {
            throw new IOException("GET /v1/counters answered " + response.status());
        }
        JsonObject counters = new JsonObject(response.body());
        if (json) {
            out.println(counters.encodePrettily());
            return OK;
        }
        out.print(countersText(counters));
        return OK;
    }

    static String countersText(JsonObject counters) {
        Table services = new Table("SERVICE", "FRONTEND", "PACKETS#", "BYTES#", "NEW-FLOWS#");
        for (JsonObject s : objects(counters.getJsonArray("services"))) {
            services.row(s.getString("service"), s.getString("frontend"), s.getValue("packets"), s.getValue("bytes"),
                    s.getValue("newFlows"));
        }
        Table drops = new Table("DROP REASON", "PACKETS#");
        counters.getJsonObject("drops", new JsonObject()).forEach(e -> drops.row(e.getKey(), e.getValue()));
        Table cni = new Table("CNI COMMAND", "OUTCOME", "REQUESTS#");
        for (JsonObject c : objects(counters.getJsonArray("cni"))) {
            cni.row(c.getString("command"), c.getString("outcome"), c.getValue("requests"));
        }
        StringBuilder text = new StringBuilder(services.render());
        if (!drops.isEmpty()) {
            text.append('\n').append(drops.render());
        }
        if (!cni.isEmpty()) {
            text.append('\n').append(cni.render());
        }
        return text.toString();
    }

    /** The first 12 characters of a container id, as container runtimes print it. */
    static String shortId(String containerId) {
        return containerId.length() > 12 ? containerId.substring(0, 12) : containerId;
    }

    private static List<JsonObject> objects(JsonArray array) {
        List<JsonObject> out = new ArrayList<>();
        if (array != null) {
            for (int i = 0; i < array.size(); i++) {
                out.add(array.getJsonObject(i));
            }
        }
        return out;
    }
}
