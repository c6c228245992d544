package io.enilb.daemon.config;

import io.enilb.bpf.Ipv6;
import io.enilb.bpf.TcAttach;

import io.vertx.config.ConfigRetriever;
import io.vertx.config.ConfigRetrieverOptions;
import io.vertx.config.ConfigStoreOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.net.InetAddress;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Loads {@link EnilbConfig}: defaults, then the YAML file, then {@code ENILB_*} environment
 * variables (the key upper-cased, dots and dashes turned into underscores: {@code file.dir} is
 * {@code ENILB_FILE_DIR}). The result is validated: an unknown key, a value of the wrong type or
 * out of range, a missing or broken file each fail with a {@link ConfigException} naming the key
 * or the file.
 *
 * <pre>
 * ConfigLoader loader = new ConfigLoader(vertx);
 * loader.load(Path.of("/etc/enilb/enilb.yaml"))   // or load(null) for defaults and environment only
 *       .onSuccess(config -> ...)
 *       .onFailure(e -> { System.err.println(e.getMessage()); System.exit(2); });
 * </pre>
 */
public final class ConfigLoader {
    private static final Logger LOG = LoggerFactory.getLogger(ConfigLoader.class);
    public static final String ENV_PREFIX = "ENILB_";
    private static final int MAP_SIZE_LIMIT = 1 << 26;
    /** The longest conntrack lifetime accepted: 30 days (kube-proxy's established default is 1 day). */
    private static final int LIFETIME_LIMIT_S = 30 * 24 * 3600;
    private static final int GC_INTERVAL_LIMIT_S = 24 * 3600;

    /** Every key with its kind and default, in the order errors are looked for. */
    private final Map<String, KeySpec> keys = new LinkedHashMap<>();
    private final Vertx vertx;
    private final Map<String, String> env;

    /** A loader over the process environment, the host name and the distribution this class was loaded from. */
    public ConfigLoader(Vertx vertx) {
        this(vertx, System.getenv(), ConfigLoader::hostname, defaultBpfObject());
    }

    /**
     * @param vertx     runs the configuration retriever
     * @param env       the environment ({@code ENILB_*} overrides, {@code NODE_NAME})
     * @param hostname  the node name when neither the file, ENILB_NODE_NAME nor NODE_NAME give one
     * @param bpfObject the default of {@code bpf.object}
     */
    public ConfigLoader(Vertx vertx, Map<String, String> env, Supplier<String> hostname, Path bpfObject) {
        this.vertx = Objects.requireNonNull(vertx, "vertx");
        this.env = Map.copyOf(env);
        String nodeDefault = env.getOrDefault("NODE_NAME", "");
        Supplier<Object> nodeName = nodeDefault.isEmpty() ? () -> hostname.get() : () -> nodeDefault;

        key("source", Kind.SOURCE, "file");
        key("file.dir", Kind.PATH, "/etc/enilb/services");
        key("kubernetes.kubeconfig", Kind.STRING, "");
        key("kubernetes.watch-list", Kind.oneOf("auto|on|off", "auto, on or off"), "auto");
        key("kubernetes.list-chunk", Kind.intRange(1, 100_000), 500);
        keys.put("node.name", new KeySpec("node.name", Kind.NON_EMPTY_STRING, nodeName));
        key("cni.socket", Kind.PATH, "/run/enilb/cni.sock");
        key("cni.allowed-uids", Kind.UID_LIST, new JsonArray().add(0));
        key("cni.max-request-bytes", Kind.intRange(1024, 16 << 20), 65536);
        key("cni.read-timeout-ms", Kind.intRange(1, 600_000), 2000);
        key("health.listen", Kind.HOST_PORT, "127.0.0.1:9876");
        // deployment: probes apart from /v1, the host's /proc seen from a container
        key("health.probe-listen", Kind.OPTIONAL_HOST_PORT, "");
        key("cni.proc-root", Kind.PATH, "/proc");
        key("bpf.pin-root", Kind.PATH, "/sys/fs/bpf/enilb");
        key("bpf.object", Kind.PATH, bpfObject.toString());
        key("bpf.max-services", Kind.intRange(1, MAP_SIZE_LIMIT), 65536);
        key("bpf.max-backends", Kind.intRange(1, MAP_SIZE_LIMIT), 262144);
        key("bpf.ct-size", Kind.intRange(1, MAP_SIZE_LIMIT), 262144);
        key("bpf.max-pods", Kind.intRange(1, MAP_SIZE_LIMIT), 4096);
        key("bpf.tc-attach", Kind.TC_ATTACH, "auto");
        key("natmap.batch-size", Kind.intRange(1, 1 << 16), 1024);
        key("natmap.linger-ms", Kind.intRange(0, 10_000), 5);
        key("natmap.queue-capacity", Kind.intRange(1, MAP_SIZE_LIMIT), 200_000);
        // lifetimes in seconds; defaults as Cilium's (established: 6 h)
        key("conntrack.tcp-syn", Kind.intRange(1, LIFETIME_LIMIT_S), 60);
        key("conntrack.tcp-established", Kind.intRange(1, LIFETIME_LIMIT_S), 6 * 3600);
        key("conntrack.tcp-closing", Kind.intRange(1, LIFETIME_LIMIT_S), 10);
        key("conntrack.other", Kind.intRange(1, LIFETIME_LIMIT_S), 60);
        key("conntrack.gc-interval-min", Kind.intRange(1, GC_INTERVAL_LIMIT_S), 1);
        key("conntrack.gc-interval-max", Kind.intRange(1, GC_INTERVAL_LIMIT_S), 300);
        key("service-cidr", Kind.CIDR, "");
        key("service-cidr6", Kind.CIDR6, "");
        key("state.dir", Kind.PATH, "/var/lib/enilb");
        key("flows.rate", Kind.intRange(0, 1_000_000), 1000);
        key("flows.burst", Kind.intRange(1, 1_000_000), 1000);
        key("flows.recent", Kind.intRange(1, 100_000), 1000);
        key("flows.queue-capacity", Kind.intRange(1, 1_000_000), 8192);
        key("socket-lb", Kind.SOCKET_LB, "auto");
        key("metrics.per-service", Kind.oneOf("auto|all|none|top [1-9]\\d{0,5}", "auto, all, none or top N"), "auto");
    }

    private void key(String name, Kind kind, Object defaultValue) {
        keys.put(name, new KeySpec(name, kind, () -> defaultValue));
    }

    /** The environment variable that overrides a key: {@code cni.allowed-uids} → {@code ENILB_CNI_ALLOWED_UIDS}. */
    public static String envName(String key) {
        return ENV_PREFIX + key.toUpperCase(Locale.ROOT).replace('.', '_').replace('-', '_');
    }

    /** Every key, dotted, in a stable order. */
    public Set<String> keys() {
        return keys.keySet();
    }

    /**
     * Loads and validates the configuration.
     *
     * @param file the YAML file, or null for defaults and environment only
     * @return the configuration, or a failure with a {@link ConfigException}
     */
    public Future<EnilbConfig> load(Path file) {
        if (file == null) {
            return load(null, false);
        }
        // vert.x's YAML store fails on a document without content (only comments): that means defaults
        return vertx.executeBlocking(() -> hasContent(file))
                .recover(failure -> Future.failedFuture(fileProblem(file, failure)))
                .compose(content -> load(file, content));
    }

    private Future<EnilbConfig> load(Path file, boolean fileHasContent) {
        ConfigRetrieverOptions options = new ConfigRetrieverOptions().setScanPeriod(-1);
        if (fileHasContent) {
            options.addStore(new ConfigStoreOptions().setType("file").setFormat("yaml")
                    .setConfig(new JsonObject().put("path", file.toString())));
        }
        Map<String, String> fromEnv = environmentOverrides();
        options.addStore(new ConfigStoreOptions().setType("json").setConfig(nest(fromEnv)));
        ConfigRetriever retriever = ConfigRetriever.create(vertx, options);
        return retriever.getConfig()
                .eventually(() -> retriever.close())
                .recover(failure -> Future.failedFuture(fileProblem(file, failure)))
                .map(merged -> validate(merged, fromEnv.keySet()));
    }

    private static boolean hasContent(Path file) throws IOException {
        return Files.readAllLines(file).stream().map(String::trim)
                .anyMatch(line -> !line.isEmpty() && !line.startsWith("#") && !line.equals("---")
                        && !line.equals("..."));
    }

    /** Validates an already merged configuration (the nested YAML shape); keys in {@code fromEnv} came from ENILB_*. */
    @SuppressWarnings("unchecked") // health.probe-listen: OPTIONAL_HOST_PORT gives an Optional<HostPort>
    public EnilbConfig validate(JsonObject merged, Set<String> fromEnv) {
        Map<String, Object> values = new LinkedHashMap<>();
        flatten("", merged, values);
        Map<String, Object> typed = new LinkedHashMap<>();
        for (KeySpec spec : keys.values()) {
            boolean given = values.containsKey(spec.name) && values.get(spec.name) != null;
            Object raw = given ? values.get(spec.name) : spec.defaultValue.get();
            String where = where(spec.name, fromEnv);
            try {
                typed.put(spec.name, spec.kind.convert.apply(raw));
            } catch (IllegalArgumentException e) {
                throw new ConfigException(where, e.getMessage());
            }
        }
        return new EnilbConfig(
                (EnilbConfig.Source) typed.get("source"),
                new EnilbConfig.File(path(typed, "file.dir")),
                new EnilbConfig.Kubernetes((String) typed.get("kubernetes.kubeconfig"),
                        (String) typed.get("kubernetes.watch-list"), (Integer) typed.get("kubernetes.list-chunk")),
                new EnilbConfig.Node((String) typed.get("node.name")),
                new EnilbConfig.Cni(path(typed, "cni.socket"), uids(typed.get("cni.allowed-uids")),
                        (Integer) typed.get("cni.max-request-bytes"), (Integer) typed.get("cni.read-timeout-ms"),
                        path(typed, "cni.proc-root")),
                new EnilbConfig.Health((EnilbConfig.HostPort) typed.get("health.listen"),
                        (Optional<EnilbConfig.HostPort>) typed.get("health.probe-listen")),
                new EnilbConfig.Bpf(path(typed, "bpf.pin-root"), path(typed, "bpf.object"),
                        (Integer) typed.get("bpf.max-services"), (Integer) typed.get("bpf.max-backends"),
                        (Integer) typed.get("bpf.ct-size"), (Integer) typed.get("bpf.max-pods"),
                        (TcAttach) typed.get("bpf.tc-attach")),
                new EnilbConfig.NatMap((Integer) typed.get("natmap.batch-size"),
                        (Integer) typed.get("natmap.linger-ms"), (Integer) typed.get("natmap.queue-capacity")),
                conntrack(typed, fromEnv),
                cidr(typed.get("service-cidr")),
                cidr(typed.get("service-cidr6")),
                new EnilbConfig.State(path(typed, "state.dir")),
                new EnilbConfig.Flows((Integer) typed.get("flows.rate"), (Integer) typed.get("flows.burst"),
                        (Integer) typed.get("flows.recent"), (Integer) typed.get("flows.queue-capacity")),
                (EnilbConfig.SocketLb) typed.get("socket-lb"),
                new EnilbConfig.Metrics((String) typed.get("metrics.per-service")));
    }

    /** The conntrack section, with the checks that span keys. */
    private static EnilbConfig.Conntrack conntrack(Map<String, Object> typed, Set<String> fromEnv) {
        Duration established = seconds(typed, "conntrack.tcp-established");
        for (String key : List.of("conntrack.tcp-syn", "conntrack.tcp-closing")) {
            if (seconds(typed, key).compareTo(established) > 0) {
                throw new ConfigException(where(key, fromEnv), "must not exceed conntrack.tcp-established ("
                        + established.toSeconds() + "), got " + seconds(typed, key).toSeconds());
            }
        }
        Duration gcMax = seconds(typed, "conntrack.gc-interval-max");
        if (seconds(typed, "conntrack.gc-interval-min").compareTo(gcMax) > 0) {
            throw new ConfigException(where("conntrack.gc-interval-min", fromEnv), "must not exceed "
                    + "conntrack.gc-interval-max (" + gcMax.toSeconds() + "), got "
                    + seconds(typed, "conntrack.gc-interval-min").toSeconds());
        }
        return new EnilbConfig.Conntrack(seconds(typed, "conntrack.tcp-syn"), established,
                seconds(typed, "conntrack.tcp-closing"), seconds(typed, "conntrack.other"),
                seconds(typed, "conntrack.gc-interval-min"), gcMax);
    }

    @SuppressWarnings("unchecked")
    private static Optional<EnilbConfig.Cidr> cidr(Object value) {
        return (Optional<EnilbConfig.Cidr>) value;
    }

    private static Duration seconds(Map<String, Object> typed, String key) {
        return Duration.ofSeconds((Integer) typed.get(key));
    }

    private static String where(String key, Set<String> fromEnv) {
        return fromEnv.contains(key) ? key + " (from " + envName(key) + ")" : key;
    }

    private static Path path(Map<String, Object> typed, String key) {
        return (Path) typed.get(key);
    }

    @SuppressWarnings("unchecked")
    private static List<Integer> uids(Object value) {
        return (List<Integer>) value;
    }

    /** Walks the nested mappings into dotted keys; a key that is neither a section nor a known leaf is an error. */
    private void flatten(String prefix, JsonObject object, Map<String, Object> out) {
        for (String name : new TreeSet<>(object.fieldNames())) {
            String key = prefix.isEmpty() ? name : prefix + "." + name;
            Object value = object.getValue(name);
            if (keys.containsKey(key)) {
                out.put(key, value);
            } else if (isSection(key)) {
                if (value instanceof JsonObject nested) {
                    flatten(key, nested, out);
                } else if (value != null) {
                    throw new ConfigException(key, "expected a mapping of keys, got " + describe(value));
                }
            } else {
                throw new ConfigException(key, "unknown key" + suggestion(key));
            }
        }
    }

    private boolean isSection(String key) {
        return keys.keySet().stream().anyMatch(k -> k.startsWith(key + "."));
    }

    private String suggestion(String key) {
        String section = key.contains(".") ? key.substring(0, key.lastIndexOf('.')) : "";
        List<String> siblings = new ArrayList<>();
        for (String k : keys.keySet()) {
            String parent = k.contains(".") ? k.substring(0, k.lastIndexOf('.')) : "";
            if (parent.equals(section)) {
                siblings.add(k.substring(k.lastIndexOf('.') + 1));
            } else if (section.isEmpty() && !siblings.contains(k.substring(0, k.indexOf('.')))) {
                siblings.add(k.substring(0, k.indexOf('.')));
            }
        }
        return siblings.isEmpty() ? "" : " (known here: " + String.join(", ", siblings) + ")";
    }

    /** ENILB_* variables of known keys, by key; unknown ENILB_* variables are logged and ignored. */
    private Map<String, String> environmentOverrides() {
        Map<String, String> byEnvName = new LinkedHashMap<>();
        for (String key : keys.keySet()) {
            byEnvName.put(envName(key), key);
        }
        Map<String, String> result = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : new java.util.TreeMap<>(env).entrySet()) {
            if (!e.getKey().startsWith(ENV_PREFIX)) {
                continue;
            }
            String key = byEnvName.get(e.getKey());
            if (key == null) {
                // launcher scripts read some ENILB_* variables of their own (JVM options and the like)
                LOG.debug("environment variable {} is not a configuration key; ignored", e.getKey());
                continue;
            }
            result.put(key, e.getValue());
        }
        return result;
    }

    private static JsonObject nest(Map<String, String> dotted) {
        JsonObject root = new JsonObject();
        for (Map.Entry<String, String> e : dotted.entrySet()) {
            String[] parts = e.getKey().split("\\.");
            JsonObject at = root;
            for (int i = 0; i < parts.length - 1; i++) {
                JsonObject next = at.getJsonObject(parts[i]);
                if (next == null) {
                    next = new JsonObject();
                    at.put(parts[i], next);
                }
                at = next;
            }
            at.put(parts[parts.length - 1], e.getValue());
        }
        return root;
    }

    private static ConfigException fileProblem(Path file, Throwable failure) {
        if (failure instanceof ConfigException ce) {
            return ce;
        }
        String name = file == null ? "configuration" : file.toString();
        if (file != null && !Files.isReadable(file)) {
            return new ConfigException(name, Files.exists(file) ? "cannot be read" : "no such file");
        }
        Throwable t = failure;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        String detail = t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage();
        if (t instanceof ClassCastException) {
            detail = "the document is not a mapping of keys";
        }
        detail = detail.lines().filter(l -> !l.isBlank() && !l.startsWith("    ") && !l.trim().equals("^"))
                .map(String::trim).reduce((a, b) -> a + " " + b).orElse(detail);
        detail = detail.endsWith(":") ? detail.substring(0, detail.length() - 1) : detail;
        return new ConfigException(name, "not valid YAML: " + detail);
    }

    private static String describe(Object value) {
        if (value instanceof JsonObject) {
            return "a mapping";
        }
        if (value instanceof JsonArray) {
            return "a list";
        }
        return "'" + value + "'";
    }

    /** The node's host name, as the kubelet names the node by default (lower case). */
    static String hostname() {
        try {
            String name = Files.readString(Path.of("/proc/sys/kernel/hostname")).trim();
            if (!name.isEmpty()) {
                return name.toLowerCase(Locale.ROOT);
            }
        } catch (IOException | RuntimeException notLinux) {
            // fall through
        }
        try {
            return InetAddress.getLocalHost().getHostName().toLowerCase(Locale.ROOT);
        } catch (IOException e) {
            return "";
        }
    }

    /** {@code enilb.bpf.o} next to the daemon's jar ({@code lib/} of the distribution). */
    static Path defaultBpfObject() {
        try {
            Path location = Path.of(ConfigLoader.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            if (Files.isRegularFile(location)) {
                return location.toAbsolutePath().getParent().resolve("enilb.bpf.o");
            }
        } catch (URISyntaxException | RuntimeException e) {
            // not loaded from a file
        }
        return Path.of("lib", "enilb.bpf.o");
    }

    private record KeySpec(String name, Kind kind, Supplier<Object> defaultValue) {
    }

    /** How a raw value (from YAML, or a string from the environment) becomes a typed one. */
    private record Kind(Function<Object, Object> convert) {
        static final Kind STRING = new Kind(v -> string(v, true));
        static final Kind NON_EMPTY_STRING = new Kind(v -> string(v, false));
        static final Kind PATH = new Kind(v -> Path.of(string(v, false)));
        static final Kind SOURCE = new Kind(v -> {
            String s = string(v, false);
            for (EnilbConfig.Source source : EnilbConfig.Source.values()) {
                if (source.value.equals(s)) {
                    return source;
                }
            }
            throw new IllegalArgumentException("expected kubernetes or file, got '" + s + "'");
        });
        /** auto, on or off; YAML 1.1 reads a bare on/off as a boolean, which means the same. */
        static final Kind SOCKET_LB = new Kind(v -> {
            if (v instanceof Boolean b) {
                return b ? EnilbConfig.SocketLb.ON : EnilbConfig.SocketLb.OFF;
            }
            String s = string(v, false);
            for (EnilbConfig.SocketLb mode : EnilbConfig.SocketLb.values()) {
                if (mode.value.equals(s)) {
                    return mode;
                }
            }
            throw new IllegalArgumentException("expected auto, on or off, got '" + s + "'");
        });
        static final Kind TC_ATTACH = new Kind(v -> TcAttach.of(string(v, false).trim()));
        static final Kind HOST_PORT = new Kind(v -> hostPort(string(v, false)));
        /** Empty: not used. */
        static final Kind OPTIONAL_HOST_PORT = new Kind(v -> string(v, true).isEmpty()
                ? Optional.empty() : Optional.of(hostPort(string(v, false))));
        static final Kind UID_LIST = new Kind(Kind::uidList);
        /** An IPv4 prefix, or empty for none. */
        static final Kind CIDR = new Kind(v -> {
            String s = string(v, true).trim();
            return s.isEmpty() ? Optional.empty() : Optional.of(cidr(s));
        });
        /** An IPv6 prefix, or empty for none. */
        static final Kind CIDR6 = new Kind(v -> {
            String s = string(v, true).trim();
            return s.isEmpty() ? Optional.empty() : Optional.of(cidr6(s));
        });

        /** A string matching {@code pattern} entirely, described as {@code expected} in errors. */
        static Kind oneOf(String pattern, String expected) {
            java.util.regex.Pattern p = java.util.regex.Pattern.compile(pattern);
            return new Kind(v -> {
                String s = string(v, false).trim();
                if (!p.matcher(s).matches()) {
                    throw new IllegalArgumentException("expected " + expected + ", got '" + s + "'");
                }
                return s;
            });
        }

        static Kind intRange(int min, int max) {
            return new Kind(v -> integer(v, min, max));
        }

        private static String string(Object v, boolean emptyAllowed) {
            if (!(v instanceof String s)) {
                throw new IllegalArgumentException("expected a string, got " + describe(v));
            }
            if (!emptyAllowed && s.isBlank()) {
                throw new IllegalArgumentException("must not be empty");
            }
            return s;
        }

        private static int integer(Object v, long min, long max) {
            long value;
            if (v instanceof Integer || v instanceof Long || v instanceof Short) {
                value = ((Number) v).longValue();
            } else if (v instanceof String s && s.trim().matches("-?\\d{1,18}")) {
                value = Long.parseLong(s.trim());
            } else {
                throw new IllegalArgumentException("expected an integer, got " + describe(v));
            }
            if (value < min || value > max) {
                throw new IllegalArgumentException("expected " + min + ".." + max + ", got " + value);
            }
            return (int) value;
        }

        private static Object uidList(Object v) {
            List<Object> items = new ArrayList<>();
            if (v instanceof JsonArray array) {
                array.forEach(items::add);
            } else if (v instanceof String s) {
                for (String part : s.split(",")) {
                    if (!part.isBlank()) {
                        items.add(part.trim());
                    }
                }
            } else if (v instanceof Number) {
                items.add(v);
            } else {
                throw new IllegalArgumentException("expected a list of uids, got " + describe(v));
            }
            List<Integer> uids = new ArrayList<>();
            for (Object item : items) {
                try {
                    uids.add(integer(item, 0, Integer.MAX_VALUE));
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException("expected a list of uids, got " + describe(item));
                }
            }
            return List.copyOf(uids);
        }

        private static EnilbConfig.Cidr cidr(String s) {
            String[] parts = s.split("/", -1);
            if (parts.length != 2 || !parts[1].matches("\\d{1,2}") || Integer.parseInt(parts[1]) > 32
                    || !parts[0].matches("(\\d{1,3}\\.){3}\\d{1,3}")) {
                throw new IllegalArgumentException("expected an IPv4 prefix like 10.96.0.0/12, got '" + s + "'");
            }
            long addr = 0;
            for (String octet : parts[0].split("\\.")) {
                int o = Integer.parseInt(octet);
                if (o > 255) {
                    throw new IllegalArgumentException("expected an IPv4 prefix like 10.96.0.0/12, got '" + s + "'");
                }
                addr = (addr << 8) | o;
            }
            int length = Integer.parseInt(parts[1]);
            long mask = length == 0 ? 0 : (0xFFFF_FFFFL << (32 - length)) & 0xFFFF_FFFFL;
            if ((addr & ~mask) != 0) {
                long network = addr & mask;
                throw new IllegalArgumentException("host bits set in '" + s + "': the prefix is "
                        + (network >>> 24) + "." + ((network >>> 16) & 255) + "." + ((network >>> 8) & 255) + "."
                        + (network & 255) + "/" + length);
            }
            return new EnilbConfig.Cidr(parts[0], length);
        }

        private static EnilbConfig.Cidr cidr6(String s) {
            String[] parts = s.split("/", -1);
            Ipv6 addr;
            try {
                addr = Ipv6.parse(parts[0]);
            } catch (IllegalArgumentException e) {
                addr = null;
            }
            if (parts.length != 2 || addr == null || !parts[1].matches("\\d{1,3}") || Integer.parseInt(parts[1]) > 128) {
                throw new IllegalArgumentException("expected an IPv6 prefix like fd00:10:96::/108, got '" + s + "'");
            }
            int length = Integer.parseInt(parts[1]);
            Ipv6 network = addr.and(Ipv6.prefixMask(length));
            if (!network.equals(addr)) {
                throw new IllegalArgumentException("host bits set in '" + s + "': the prefix is " + network + "/" + length);
            }
            return new EnilbConfig.Cidr(network.toString(), length);
        }

        private static EnilbConfig.HostPort hostPort(String s) {
            String text = s.trim();
            int colon = text.lastIndexOf(':');
            String host = colon <= 0 ? "" : text.substring(0, colon);
            String port = colon < 0 ? "" : text.substring(colon + 1);
            if (host.startsWith("[") && host.endsWith("]")) {
                host = host.substring(1, host.length() - 1);
            } else if (host.contains(":")) {
                host = "";
            }
            if (host.isEmpty() || !port.matches("\\d{1,5}") || Integer.parseInt(port) > 65535) {
                throw new IllegalArgumentException("expected host:port, got '" + s + "'");
            }
            return new EnilbConfig.HostPort(host, Integer.parseInt(port));
        }
    }
}
