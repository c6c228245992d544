package io.enilb.cni.plugin;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

/**
 * {@code enilb-cni}: the enilb CNI plugin (spec 1.1.0 and 1.0.0, 0.4.0 configs), chained after the
 * plugin that gives the pod its NIC. VERSION is answered here; every other command is forwarded
 * to enilbd over the unix socket named by the config key {@code socket}, and the reply printed.
 *
 * <p>The runtime starts this program for every pod, so it uses the JDK only and as few classes
 * as it can (no lambdas, no streams): start-up time is most of its run time.
 */
public final class EnilbCni {
    static final String DEFAULT_SOCKET = "/run/enilb/cni.sock";
    static final String LATEST_VERSION = "1.1.0";
    static final List<String> SUPPORTED_VERSIONS = List.of("0.4.0", "1.0.0", "1.1.0");

    private final Map<String, String> env;
    private final InputStream stdin;
    private final PrintStream stdout;
    private final PrintStream stderr;
    /** The config's version once it is known and supported; errors are printed in it. */
    private String cniVersion = LATEST_VERSION;

    EnilbCni(Map<String, String> env, InputStream stdin, PrintStream stdout, PrintStream stderr) {
        this.env = env;
        this.stdin = stdin;
        this.stdout = stdout;
        this.stderr = stderr;
    }

    public static void main(String[] args) {
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        int status = new EnilbCni(System.getenv(), System.in, out, System.err).run();
        out.flush();
        System.exit(status);
    }

    /** Runs one invocation; returns the exit status (0 success, 1 a CNI error was printed). */
    int run() {
        try {
            String output = execute();
            if (output != null) {
                stdout.println(output);
            }
            return 0;
        } catch (CniError e) {
            stdout.println(Json.write(e.toJson(cniVersion)));
            return 1;
        } catch (RuntimeException bug) {
            // the runtime reads stdout as JSON: even a defect must be reported as a CNI error
            CniError error = new CniError(CniError.PLUGIN_FAILURE, "enilb-cni failed", String.valueOf(bug));
            stdout.println(Json.write(error.toJson(cniVersion)));
            return 1;
        }
    }

    /** What to print on success, null for nothing. */
    private String execute() throws CniError {
        String command = env.get("CNI_COMMAND");
        String stdinText = readStdin();
        if ("VERSION".equals(command)) {
            return version(stdinText);
        }
        Map<String, Object> config = parseConfig(stdinText);
        if (command == null || command.isEmpty()) {
            throw new CniError(CniError.INVALID_ENVIRONMENT, "CNI_COMMAND is not set");
        }
        switch (command) {
            case "ADD":
            case "CHECK":
                requireEnv("CNI_CONTAINERID");
                requireEnv("CNI_IFNAME");
                requireEnv("CNI_NETNS");
                break;
            case "DEL":
                requireEnv("CNI_CONTAINERID");
                requireEnv("CNI_IFNAME");
                break;
            case "GC":
            case "STATUS":
                if (!LATEST_VERSION.equals(cniVersion)) {
                    throw new CniError(CniError.INCOMPATIBLE_VERSION,
                            command + " needs cniVersion " + LATEST_VERSION, "config has " + cniVersion);
                }
                break;
            default:
                throw new CniError(CniError.INVALID_ENVIRONMENT, "unknown CNI_COMMAND " + command);
        }
        if ("ADD".equals(command) && !(config.get("prevResult") instanceof Map)) {
            throw new CniError(CniError.INVALID_CONFIG, "enilb is a chained plugin: ADD needs a prevResult",
                    "put enilb after the plugin that creates the pod's interface");
        }
        Object socket = config.getOrDefault("socket", DEFAULT_SOCKET);
        if (!(socket instanceof String) || ((String) socket).isEmpty()) {
            throw new CniError(CniError.INVALID_CONFIG, "config key socket must be a non-empty string");
        }

        Map<String, Object> request = Json.object(
                Wire.COMMAND, command,
                Wire.CONTAINER_ID, envOrEmpty("CNI_CONTAINERID"),
                Wire.NETNS, envOrEmpty("CNI_NETNS"),
                Wire.IF_NAME, envOrEmpty("CNI_IFNAME"),
                Wire.ARGS, envOrEmpty("CNI_ARGS"),
                Wire.CONFIG, config);
        String replyText;
        try {
            replyText = UnixExchange.exchange((String) socket, Json.write(request));
        } catch (UnixExchange.Unreachable e) {
            if ("DEL".equals(command)) {
                // nothing of ours can be left that the daemon would not clean up by itself on start
                stderr.println("enilb-cni: daemon unreachable at " + socket + " (" + e.getMessage() + "); DEL done");
                return null;
            }
            throw new CniError(CniError.TRY_AGAIN_LATER, "enilb daemon unreachable at " + socket, e.getMessage());
        }
        return reply(command, replyText);
    }

    private String version(String stdinText) {
        String version = LATEST_VERSION;
        try {
            Object config = stdinText.isBlank() ? null : Json.parse(stdinText);
            Object requested = config instanceof Map ? ((Map<?, ?>) config).get("cniVersion") : null;
            if (requested instanceof String && SUPPORTED_VERSIONS.contains(requested)) {
                version = (String) requested;
            }
        } catch (Json.ParseException ignored) {
            // VERSION must answer whatever the runtime sends
        }
        return Json.write(Json.object("cniVersion", version, "supportedVersions", SUPPORTED_VERSIONS));
    }

    @SuppressWarnings("unchecked")
    private Map<String, Object> parseConfig(String stdinText) throws CniError {
        Object parsed;
        try {
            parsed = Json.parse(stdinText);
        } catch (Json.ParseException e) {
            throw new CniError(CniError.DECODING_FAILURE, "network config on stdin is not JSON", e.getMessage());
        }
        if (!(parsed instanceof Map)) {
            throw new CniError(CniError.DECODING_FAILURE, "network config on stdin is not a JSON object");
        }
        Map<String, Object> config = (Map<String, Object>) parsed;
        Object version = config.get("cniVersion");
        if (!(version instanceof String) || ((String) version).isEmpty()) {
            throw new CniError(CniError.INVALID_CONFIG, "network config has no cniVersion");
        }
        if (!SUPPORTED_VERSIONS.contains(version)) {
            throw new CniError(CniError.INCOMPATIBLE_VERSION, "unsupported cniVersion " + version,
                    "supported: " + String.join(", ", SUPPORTED_VERSIONS));
        }
        cniVersion = (String) version;
        if (!(config.get("name") instanceof String)) {
            throw new CniError(CniError.INVALID_CONFIG, "network config has no name");
        }
        return config;
    }

    @SuppressWarnings("unchecked")
    private String reply(String command, String replyText) throws CniError {
        Object reply;
        try {
            reply = Json.parse(replyText);
        } catch (Json.ParseException e) {
            throw new CniError(CniError.PLUGIN_FAILURE, "enilb daemon sent a malformed reply", e.getMessage());
        }
        if (!(reply instanceof Map)) {
            throw new CniError(CniError.PLUGIN_FAILURE, "enilb daemon sent a malformed reply", "not an object");
        }
        Object error = ((Map<?, ?>) reply).get(Wire.ERROR);
        if (error instanceof Map) {
            Map<?, ?> e = (Map<?, ?>) error;
            long code = e.get(Wire.CODE) instanceof Json.Num
                    ? ((Json.Num) e.get(Wire.CODE)).longValue(CniError.PLUGIN_FAILURE) : CniError.PLUGIN_FAILURE;
            throw new CniError((int) code, stringOr(e.get(Wire.MSG), "enilb daemon failed"),
                    stringOr(e.get(Wire.DETAILS), ""));
        }
        Object result = ((Map<?, ?>) reply).get(Wire.RESULT);
        if (!((Map<?, ?>) reply).containsKey(Wire.RESULT)) {
            throw new CniError(CniError.PLUGIN_FAILURE, "enilb daemon sent a malformed reply", "no result, no error");
        }
        if (!"ADD".equals(command)) {
            return null; // DEL, CHECK, GC and STATUS print nothing on success
        }
        if (!(result instanceof Map)) {
            throw new CniError(CniError.PLUGIN_FAILURE, "enilb daemon sent no result for ADD");
        }
        // the result is printed in the config's version, cniVersion first as runtimes print it
        Map<String, Object> printed = Json.object("cniVersion", cniVersion);
        for (Map.Entry<String, Object> entry : ((Map<String, Object>) result).entrySet()) {
            if (!"cniVersion".equals(entry.getKey())) {
                printed.put(entry.getKey(), entry.getValue());
            }
        }
        return Json.write(printed);
    }

    private String readStdin() throws CniError {
        try {
            return new String(stdin.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new CniError(CniError.DECODING_FAILURE, "cannot read the network config on stdin", e.getMessage());
        }
    }

    private void requireEnv(String name) throws CniError {
        String value = env.get(name);
        if (value == null || value.isEmpty()) {
            throw new CniError(CniError.INVALID_ENVIRONMENT, name + " is not set");
        }
    }

    private String envOrEmpty(String name) {
        String value = env.get(name);
        return value == null ? "" : value;
    }

    private static String stringOr(Object value, String fallback) {
        return value instanceof String ? (String) value : fallback;
    }
}
