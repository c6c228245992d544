package io.enilb.daemon.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.enilb.bpf.TcAttach;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class ConfigLoaderTest {
    private static final Path BPF_OBJECT = Path.of("/opt/enilb/lib/enilb.bpf.o");
    private static Vertx vertx;

    @TempDir
    Path dir;

    @BeforeAll
    static void startVertx() {
        vertx = Vertx.vertx();
    }

    @AfterAll
    static void stopVertx() throws Exception {
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    private static final EnilbConfig DEFAULTS = new EnilbConfig(
            EnilbConfig.Source.FILE,
            new EnilbConfig.File(Path.of("/etc/enilb/services")),
            new EnilbConfig.Kubernetes("", "auto", 500),
            new EnilbConfig.Node("host-a"),
            new EnilbConfig.Cni(Path.of("/run/enilb/cni.sock"), List.of(0), 65536, 2000, Path.of("/proc")),
            new EnilbConfig.Health(new EnilbConfig.HostPort("127.0.0.1", 9876), Optional.empty()),
            new EnilbConfig.Bpf(Path.of("/sys/fs/bpf/enilb"), BPF_OBJECT, 65536, 262144, 262144, 4096,
                    TcAttach.AUTO),
            new EnilbConfig.NatMap(1024, 5, 200_000),
            new EnilbConfig.Conntrack(Duration.ofSeconds(60), Duration.ofHours(6), Duration.ofSeconds(10),
                    Duration.ofSeconds(60), Duration.ofSeconds(1), Duration.ofSeconds(300)),
            Optional.empty(),
            Optional.empty(),
            new EnilbConfig.State(Path.of("/var/lib/enilb")),
            new EnilbConfig.Flows(1000, 1000, 1000, 8192),
            EnilbConfig.SocketLb.AUTO,
            new EnilbConfig.Metrics("auto"));

    private static ConfigLoader loader(Map<String, String> env) {
        return new ConfigLoader(vertx, env, () -> "host-a", BPF_OBJECT);
    }

    private static <T> T join(Future<T> future) throws Exception {
        try {
            return future.toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            throw (Exception) e.getCause();
        }
    }

    private Path yaml(String text) throws Exception {
        Path file = dir.resolve("enilb.yaml");
        Files.writeString(file, text);
        return file;
    }

    @Test
    void withoutFileOrEnvironmentEveryKeyHasItsDefault() throws Exception {
        assertThat(join(loader(Map.of()).load(null))).isEqualTo(DEFAULTS);
    }

    @Test
    void emptyFileMeansDefaults() throws Exception {
        assertThat(join(loader(Map.of()).load(yaml("")))).isEqualTo(DEFAULTS);
        assertThat(join(loader(Map.of()).load(yaml("# nothing set\n")))).isEqualTo(DEFAULTS);
    }

    @Test
    void shippedDefaultConfigurationMatchesTheDefaults() throws Exception {
        Path shipped = Path.of(System.getProperty("user.dir")).getParent().resolve("config/enilb.yaml");
        EnilbConfig config = join(loader(Map.of()).load(shipped));
        // the shipped file leaves node.name and bpf.object to their computed defaults
        assertThat(config).isEqualTo(DEFAULTS);
    }

    @Test
    void nodeNameComesFromNodeNameBeforeTheHostname() throws Exception {
        assertThat(join(loader(Map.of("NODE_NAME", "node-7")).load(null)).node().name()).isEqualTo("node-7");
    }

    @Test
    void everyKeyFromTheFile() throws Exception {
        Path file = yaml("""
                source: kubernetes
                file: {dir: /srv/services}
                kubernetes: {kubeconfig: /root/.kube/config, watch-list: "off", list-chunk: 100}
                node: {name: node-1}
                cni:
                  socket: /run/enilb2/cni.sock
                  allowed-uids: [0, 1000]
                  max-request-bytes: 4096
                  read-timeout-ms: 500
                  proc-root: /host/proc
                health: {listen: "127.0.0.1:9900", probe-listen: "0.0.0.0:9901"}
                bpf:
                  pin-root: /sys/fs/bpf/enilb2
                  object: /usr/lib/enilb/enilb.bpf.o
                  max-services: 100
                  max-backends: 1000
                  ct-size: 4096
                  max-pods: 100
                  tc-attach: clsact
                natmap: {batch-size: 64, linger-ms: 0, queue-capacity: 1000}
                conntrack:
                  tcp-syn: 30
                  tcp-established: 86400
                  tcp-closing: 5
                  other: 120
                  gc-interval-min: 2
                  gc-interval-max: 60
                service-cidr: 10.96.0.0/12
                service-cidr6: "FD00:10:96:0::/108"
                state: {dir: /var/lib/enilb2}
                flows: {rate: 50, burst: 10, recent: 200, queue-capacity: 64}
                socket-lb: auto
                metrics: {per-service: top 20}
                """);
        assertThat(join(loader(Map.of()).load(file))).isEqualTo(new EnilbConfig(
                EnilbConfig.Source.KUBERNETES,
                new EnilbConfig.File(Path.of("/srv/services")),
                new EnilbConfig.Kubernetes("/root/.kube/config", "off", 100),
                new EnilbConfig.Node("node-1"),
                new EnilbConfig.Cni(Path.of("/run/enilb2/cni.sock"), List.of(0, 1000), 4096, 500,
                        Path.of("/host/proc")),
                new EnilbConfig.Health(new EnilbConfig.HostPort("127.0.0.1", 9900),
                        Optional.of(new EnilbConfig.HostPort("0.0.0.0", 9901))),
                new EnilbConfig.Bpf(Path.of("/sys/fs/bpf/enilb2"), Path.of("/usr/lib/enilb/enilb.bpf.o"), 100, 1000,
                        4096, 100, TcAttach.CLSACT),
                new EnilbConfig.NatMap(64, 0, 1000),
                new EnilbConfig.Conntrack(Duration.ofSeconds(30), Duration.ofDays(1), Duration.ofSeconds(5),
                        Duration.ofSeconds(120), Duration.ofSeconds(2), Duration.ofSeconds(60)),
                Optional.of(new EnilbConfig.Cidr("10.96.0.0", 12)),
                Optional.of(new EnilbConfig.Cidr("fd00:10:96::", 108)),
                new EnilbConfig.State(Path.of("/var/lib/enilb2")),
                new EnilbConfig.Flows(50, 10, 200, 64),
                EnilbConfig.SocketLb.AUTO,
                new EnilbConfig.Metrics("top 20")));
    }

    @Test
    void environmentBeatsTheFileAndKeepsTheFilesOtherKeys() throws Exception {
        Path file = yaml("""
                file: {dir: /from/file}
                bpf: {pin-root: /from/file, max-services: 100}
                """);
        EnilbConfig config = join(loader(Map.of(
                "ENILB_FILE_DIR", "/from/env",
                "ENILB_BPF_PIN_ROOT", "/sys/fs/bpf/env",
                "ENILB_CNI_ALLOWED_UIDS", "0, 1000",
                "ENILB_HEALTH_LISTEN", "127.0.0.1:0",
                "ENILB_SOURCE", "kubernetes",
                "ENILB_NATMAP_LINGER_MS", "7",
                "ENILB_JAVA_OPTS", "-Xmx64m")).load(file));
        assertThat(config.file().dir()).isEqualTo(Path.of("/from/env"));
        assertThat(config.bpf().pinRoot()).isEqualTo(Path.of("/sys/fs/bpf/env"));
        assertThat(config.bpf().maxServices()).isEqualTo(100);
        assertThat(config.cni().allowedUids()).containsExactly(0, 1000);
        assertThat(config.health().listen()).isEqualTo(new EnilbConfig.HostPort("127.0.0.1", 0));
        assertThat(config.source()).isEqualTo(EnilbConfig.Source.KUBERNETES);
        assertThat(config.natmap().lingerMs()).isEqualTo(7);
    }

    @Test
    void environmentNames() {
        assertThat(ConfigLoader.envName("file.dir")).isEqualTo("ENILB_FILE_DIR");
        assertThat(ConfigLoader.envName("bpf.pin-root")).isEqualTo("ENILB_BPF_PIN_ROOT");
        assertThat(ConfigLoader.envName("cni.allowed-uids")).isEqualTo("ENILB_CNI_ALLOWED_UIDS");
    }

    static Stream<Arguments> badValues() {
        return Stream.of(
                Arguments.of("source: etcd", "source", "expected kubernetes or file, got 'etcd'"),
                Arguments.of("socket-lb: maybe", "socket-lb", "expected auto, on or off, got 'maybe'"),
                Arguments.of("bpf: {tc-attach: tc}", "bpf.tc-attach", "expected auto, tcx or clsact, got 'tc'"),
                Arguments.of("file: {dir: ''}", "file.dir", "must not be empty"),
                Arguments.of("file: /etc/enilb", "file", "expected a mapping of keys, got '/etc/enilb'"),
                Arguments.of("kubernetes: {kubeconfig: [a]}", "kubernetes.kubeconfig", "expected a string, got a list"),
                Arguments.of("node: {name: ''}", "node.name", "must not be empty"),
                Arguments.of("cni: {socket: 5}", "cni.socket", "expected a string, got '5'"),
                Arguments.of("cni: {allowed-uids: [0, -1]}", "cni.allowed-uids", "expected a list of uids, got '-1'"),
                Arguments.of("cni: {allowed-uids: {a: 1}}", "cni.allowed-uids", "expected a list of uids, got a mapping"),
                Arguments.of("cni: {max-request-bytes: 10}", "cni.max-request-bytes", "expected 1024..16777216, got 10"),
                Arguments.of("cni: {read-timeout-ms: soon}", "cni.read-timeout-ms", "expected an integer, got 'soon'"),
                Arguments.of("health: {listen: x}", "health.listen", "expected host:port, got 'x'"),
                Arguments.of("health: {listen: '127.0.0.1:70000'}", "health.listen",
                        "expected host:port, got '127.0.0.1:70000'"),
                Arguments.of("health: {listen: ':9876'}", "health.listen", "expected host:port, got ':9876'"),
                Arguments.of("bpf: {pin-root: ''}", "bpf.pin-root", "must not be empty"),
                Arguments.of("bpf: {object: [x]}", "bpf.object", "expected a string, got a list"),
                Arguments.of("bpf: {max-services: 0}", "bpf.max-services", "expected 1..67108864, got 0"),
                Arguments.of("bpf: {max-backends: 1.5}", "bpf.max-backends", "expected an integer, got '1.5'"),
                Arguments.of("bpf: {ct-size: [1]}", "bpf.ct-size", "expected an integer, got a list"),
                Arguments.of("natmap: {batch-size: -1}", "natmap.batch-size", "expected 1..65536, got -1"),
                Arguments.of("natmap: {linger-ms: 99999}", "natmap.linger-ms", "expected 0..10000, got 99999"),
                Arguments.of("natmap: {queue-capacity: lots}", "natmap.queue-capacity",
                        "expected an integer, got 'lots'"),
                Arguments.of("conntrack: {tcp-syn: 0}", "conntrack.tcp-syn", "expected 1..2592000, got 0"),
                Arguments.of("conntrack: {tcp-established: 6h}", "conntrack.tcp-established", "expected an integer, got '6h'"),
                Arguments.of("conntrack: {tcp-established: 5}", "conntrack.tcp-syn",
                        "must not exceed conntrack.tcp-established (5), got 60"),
                Arguments.of("conntrack: {tcp-closing: 30000}", "conntrack.tcp-closing",
                        "must not exceed conntrack.tcp-established (21600), got 30000"),
                Arguments.of("conntrack: {other: -1}", "conntrack.other", "expected 1..2592000, got -1"),
                Arguments.of("conntrack: {gc-interval-min: 400}", "conntrack.gc-interval-min",
                        "must not exceed conntrack.gc-interval-max (300), got 400"),
                Arguments.of("conntrack: {gc-interval-max: 0}", "conntrack.gc-interval-max", "expected 1..86400, got 0"),
                Arguments.of("bpf: {max-pods: 0}", "bpf.max-pods", "expected 1..67108864, got 0"),
                Arguments.of("service-cidr: 10.96.0.0", "service-cidr", "expected an IPv4 prefix like 10.96.0.0/12, got '10.96.0.0'"),
                Arguments.of("service-cidr: 10.96.0.0/33", "service-cidr", "expected an IPv4 prefix"),
                Arguments.of("service-cidr: 10.300.0.0/16", "service-cidr", "expected an IPv4 prefix"),
                Arguments.of("service-cidr: 10.96.0.1/12", "service-cidr",
                        "host bits set in '10.96.0.1/12': the prefix is 10.96.0.0/12"),
                Arguments.of("service-cidr: [10.96.0.0/12]", "service-cidr", "expected a string, got a list"),
                Arguments.of("service-cidr6: 'fd00:10:96::'", "service-cidr6",
                        "expected an IPv6 prefix like fd00:10:96::/108, got 'fd00:10:96::'"),
                Arguments.of("service-cidr6: 'fd00:10:96::/129'", "service-cidr6", "expected an IPv6 prefix"),
                Arguments.of("service-cidr6: 'fd00:10:96::/-8'", "service-cidr6", "expected an IPv6 prefix"),
                Arguments.of("service-cidr6: 10.96.0.0/12", "service-cidr6", "expected an IPv6 prefix"),
                Arguments.of("service-cidr6: '::ffff:10.96.0.0/108'", "service-cidr6", "expected an IPv6 prefix"),
                Arguments.of("service-cidr6: 'fd00:10:96::1::/108'", "service-cidr6", "expected an IPv6 prefix"),
                Arguments.of("service-cidr6: 'fe80::%eth0/64'", "service-cidr6", "expected an IPv6 prefix"),
                Arguments.of("service-cidr6: 'kubernetes.default/108'", "service-cidr6", "expected an IPv6 prefix"),
                Arguments.of("service-cidr6: 'fd00:10:96::1:0/108'", "service-cidr6",
                        "host bits set in 'fd00:10:96::1:0/108': the prefix is fd00:10:96::/108"),
                Arguments.of("service-cidr6: [fd00:10:96::/108]", "service-cidr6", "expected a string, got a list"),
                Arguments.of("state: {dir: ''}", "state.dir", "must not be empty"),
                Arguments.of("sorce: file", "sorce", "unknown key"),
                Arguments.of("bpf: {pin-rot: /x}", "bpf.pin-rot", "unknown key"),
                Arguments.of("health: {listen: '127.0.0.1:1', port: 3}", "health.port", "unknown key"));
    }

    @ParameterizedTest(name = "{0} → {1}")
    @MethodSource("badValues")
    void badValueNamesItsKey(String yaml, String key, String reason) throws Exception {
        Path file = yaml(yaml + "\n");
        assertThatThrownBy(() -> join(loader(Map.of()).load(file)))
                .isInstanceOfSatisfying(ConfigException.class, e -> {
                    assertThat(e.key()).isEqualTo(key);
                    assertThat(e.reason()).startsWith(reason);
                    assertThat(e.getMessage()).startsWith(key + ": " + reason);
                });
    }

    @Test
    void badEnvironmentValueNamesKeyAndVariable() {
        assertThatThrownBy(() -> join(loader(Map.of("ENILB_BPF_MAX_SERVICES", "many")).load(null)))
                .isInstanceOf(ConfigException.class)
                .hasMessage("bpf.max-services (from ENILB_BPF_MAX_SERVICES): expected an integer, got 'many'");
    }

    @Test
    void unknownKeySaysWhichKeysExistThere() throws Exception {
        Path file = yaml("bpf: {pin-rot: /x}\n");
        assertThatThrownBy(() -> join(loader(Map.of()).load(file)))
                .hasMessageContaining("bpf.pin-rot: unknown key")
                .hasMessageContaining("pin-root");
    }

    @Test
    void brokenYamlNamesTheFileAndTheLine() throws Exception {
        Path file = yaml("bpf:\n  pin-root: [unclosed\n");
        assertThatThrownBy(() -> join(loader(Map.of()).load(file)))
                .isInstanceOfSatisfying(ConfigException.class, e -> {
                    assertThat(e.key()).isEqualTo(file.toString());
                    assertThat(e.reason()).startsWith("not valid YAML: ").contains("line");
                });
    }

    @Test
    void yamlThatIsNotAMappingIsRejected() throws Exception {
        Path file = yaml("- a\n- b\n");
        assertThatThrownBy(() -> join(loader(Map.of()).load(file)))
                .isInstanceOf(ConfigException.class)
                .hasMessageStartingWith(file + ": not valid YAML");
    }

    @Test
    void missingFileIsNamed() {
        Path file = dir.resolve("nope.yaml");
        assertThatThrownBy(() -> join(loader(Map.of()).load(file)))
                .isInstanceOf(ConfigException.class)
                .hasMessage(file + ": no such file");
    }

    @Test
    void watcherConfigCarriesTheSourceKeys() throws Exception {
        EnilbConfig config = join(loader(Map.of("ENILB_SOURCE", "kubernetes")).load(null));
        assertThat(config.watcherConfig().encode()).isEqualTo(
                "{\"source\":\"kubernetes\",\"file\":{\"dir\":\"/etc/enilb/services\"},"
                        + "\"kubernetes\":{\"kubeconfig\":\"\",\"watch-list\":\"auto\",\"list-chunk\":500},\"node\":{\"name\":\"host-a\"}}");
    }
}
