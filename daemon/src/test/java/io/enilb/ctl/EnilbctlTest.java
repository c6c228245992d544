package io.enilb.ctl;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class EnilbctlTest {
    private final ByteArrayOutputStream stdout = new ByteArrayOutputStream();
    private final ByteArrayOutputStream stderr = new ByteArrayOutputStream();
    private HttpServer server;

    @AfterEach
    void stopServer() {
        if (server != null) {
            server.stop(0);
        }
    }

    private int run(Map<String, String> env, String... args) {
        Enilbctl ctl = new Enilbctl(new PrintStream(stdout, true, StandardCharsets.UTF_8),
                new PrintStream(stderr, true, StandardCharsets.UTF_8));
        return ctl.run(args, env);
    }

    private String out() {
        return stdout.toString(StandardCharsets.UTF_8);
    }

    private String err() {
        return stderr.toString(StandardCharsets.UTF_8);
    }

    /** A port nothing listens on: bound once, then released. */
    private static int closedPort() throws Exception {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    /** A stand-in enilbd answering {@code path -> (status, body)}. */
    private String fakeDaemon(Map<String, Object[]> answers) throws Exception {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        answers.forEach((path, answer) -> server.createContext(path, exchange -> {
            byte[] body = ((String) answer[1]).getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders((Integer) answer[0], body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        }));
        server.start();
        return "127.0.0.1:" + server.getAddress().getPort();
    }

    @Test
    void tablesAlignColumnsAndRightAlignNumbers() {
        String text = new Table("NAME", "COUNT#", "NOTE")
                .row("a", 5, "short")
                .row("longer-name", 12345, null)
                .row("b", 7)
                .render();
        assertThat(text).isEqualTo("""
                NAME         COUNT  NOTE
                a                5  short
                longer-name  12345  -
                b                7
                """);
    }

    @Test
    void ipv6FrontendsAndBackendsAreWrittenWithBrackets() {
        JsonObject body = new JsonObject().put("services", new JsonArray().add(new JsonObject()
                .put("service", "default/web")
                .put("frontends", new JsonArray()
                        .add(new JsonObject().put("frontend", "[2001:db8:19::10]:80/TCP").put("state", "programmed")
                                .put("svcId", 4).put("error", null).put("backends", new JsonArray()
                                        .add(new JsonObject().put("ip", "2001:db8:18::5").put("port", 8080)
                                                .put("state", "active")))))));
        assertThat(Enilbctl.servicesTable(body).render()).isEqualTo("""
                SERVICE      FRONTEND                  STATE       SVC-ID  BACKENDS               ERROR
                default/web  [2001:db8:19::10]:80/TCP  programmed       4  [2001:db8:18::5]:8080  -
                """);
    }

    @Test
    void servicesTableHasOneRowPerFrontend() {
        JsonObject body = new JsonObject().put("services", new JsonArray().add(new JsonObject()
                .put("service", "default/web")
                .put("frontends", new JsonArray()
                        .add(new JsonObject().put("frontend", "198.19.0.10:80/TCP").put("state", "programmed")
                                .put("svcId", 3).put("error", null).put("backends", new JsonArray()
                                        .add(new JsonObject().put("ip", "198.18.0.5").put("port", 8080)
                                                .put("state", "active"))
                                        .add(new JsonObject().put("ip", "198.18.0.6").put("port", 8080)
                                                .put("state", "terminating"))))
                        .add(new JsonObject().put("frontend", "198.19.0.10:53/UDP").put("state", "failed")
                                .put("svcId", null).put("error", "service map full")
                                .put("backends", new JsonArray())))));
        assertThat(Enilbctl.servicesTable(body).render()).isEqualTo("""
                SERVICE      FRONTEND            STATE       SVC-ID  BACKENDS                                      ERROR
                default/web  198.19.0.10:80/TCP  programmed       3  198.18.0.5:8080,198.18.0.6:8080(terminating)  -
                default/web  198.19.0.10:53/UDP  failed           -  none                                          service map full
                """);
    }

    @Test
    void countersAreATable() {
        JsonObject counters = new JsonObject("""
                {"services":[{"service":"default/web","frontend":"198.19.0.10:80/TCP","packets":10,"bytes":1500,
                  "newFlows":2}],
                 "drops":{"no_backend":7},
                 "cni":[{"command":"ADD","outcome":"ok","requests":2}]}
                """);
        assertThat(Enilbctl.countersText(counters)).isEqualTo("""
                SERVICE      FRONTEND            PACKETS  BYTES  NEW-FLOWS
                default/web  198.19.0.10:80/TCP       10   1500          2

                DROP REASON  PACKETS
                no_backend         7

                CNI COMMAND  OUTCOME  REQUESTS
                ADD          ok              2
                """);
    }

    @Test
    void saysSoWhenTheDaemonIsNotRunning() throws Exception {
        int port = closedPort();
        assertThat(run(Map.of(), "--health", "127.0.0.1:" + port, "services")).isEqualTo(1);
        assertThat(err()).isEqualTo("enilbd is not running (no answer on 127.0.0.1:" + port + ")\n");
        assertThat(out()).isEmpty();
    }

    @Test
    void takesTheAddressFromTheEnvironment() throws Exception {
        int port = closedPort();
        assertThat(run(Map.of("ENILB_HEALTH_LISTEN", "0.0.0.0:" + port), "status")).isEqualTo(1);
        assertThat(err()).isEqualTo("enilbd is not running (no answer on 0.0.0.0:" + port + ")\n");
    }

    @Test
    void rejectsBadUsage() {
        assertThat(run(Map.of(), "frobnicate")).isEqualTo(2);
        assertThat(err()).startsWith("enilbctl: unknown command frobnicate\nusage: enilbctl");
        assertThat(run(Map.of(), "--health", "nonsense", "status")).isEqualTo(2);
    }

    @Test
    void statusShowsWhyNotReady() throws Exception {
        String address = fakeDaemon(Map.of(
                "/healthz", new Object[] {200, "ok\n"},
                "/readyz", new Object[] {503, "{\"ready\":false,\"reasons\":{\"nat-map\":\"not reported yet\"}}"},
                "/v1/services", new Object[] {200, "{\"source\":\"file\",\"synced\":true,\"sourceErrors\":{},"
                        + "\"services\":[]}"},
                "/v1/endpoints", new Object[] {200, "{\"pods\":[]}"},
                "/v1/programs", new Object[] {200, "{\"loaded\":true,\"programs\":[]}"}));
        assertThat(run(Map.of(), "--health", address, "status")).isEqualTo(3);
        assertThat(out()).isEqualTo("""
                WHAT      STATE
                enilbd    live on %s
                ready     no
                source    file, synced
                datapath  loaded
                services  0
                pods      0

                COMPONENT  NOT READY BECAUSE
                nat-map    not reported yet
                """.formatted(address));
    }

    @Test
    void programsSayHowPodsGetThem() throws Exception {
        String programs = "{\"loaded\":true,\"tcAttach\":\"tcx\",\"programs\":[{\"name\":\"enilb_egress\",\"id\":7,"
                + "\"attachedTo\":[{\"containerId\":\"0123456789abcdef\",\"netns\":\"/run/netns/a\","
                + "\"device\":\"eth0\",\"direction\":\"egress\"}]}],\"socketHooks\":[]}";
        String address = fakeDaemon(Map.of("/v1/programs", new Object[] {200, programs}));
        assertThat(run(Map.of(), "--health", address, "programs")).isZero();
        assertThat(out()).isEqualTo("""
                PROGRAM       ID  CONTAINER     DEVICE  DIRECTION
                enilb_egress   7  0123456789ab  eth0    egress
                pod devices: tcx links
                """);
    }

    @Test
    void jsonPrintsWhatTheDaemonSaid() throws Exception {
        String pods = "{\"pods\":[{\"containerId\":\"0123456789abcdef\",\"ifName\":\"eth0\","
                + "\"netns\":\"/run/netns/a\",\"ips\":[\"198.18.0.5\"]}]}";
        String address = fakeDaemon(Map.of("/v1/endpoints", new Object[] {200, pods}));
        assertThat(run(Map.of(), "--json", "--health=" + address, "endpoints")).isZero();
        assertThat(new JsonObject(out())).isEqualTo(new JsonObject(pods));

        stdout.reset();
        assertThat(run(Map.of(), "--health", address, "endpoints")).isZero();
        assertThat(out()).isEqualTo("""
                CONTAINER     IFNAME  IPS         NETNS
                0123456789ab  eth0    198.18.0.5  /run/netns/a
                """);
    }
}
