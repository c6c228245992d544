package io.enilb.cni;

import io.vertx.core.Future;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;

import static io.enilb.cni.CniTestClient.config;
import static io.enilb.cni.CniTestClient.request;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class CniSocketServerTest {
    @TempDir
    Path tmp;
    Path socket;
    CniSocketServer server;
    final List<CniRequest> handled = new CopyOnWriteArrayList<>();

    @BeforeEach
    void setUp() {
        socket = tmp.resolve("run/enilb/cni.sock");
    }

    @AfterEach
    void tearDown() {
        if (server != null) {
            server.stop();
        }
    }

    private CniTestClient start(CniSocketSettings settings) throws IOException {
        server = new CniSocketServer(settings, request -> {
            handled.add(request);
            return Future.succeededFuture(CniReply.ok(new JsonObject().put("echo", request.command())));
        });
        server.start();
        return new CniTestClient(settings.socket());
    }

    @Test
    void servesOneRequestPerConnection() throws Exception {
        CniTestClient client = start(CniSocketSettings.defaults(socket));

        JsonObject reply = client.send(request("DEL", "abc123", "", "eth0", config("1.1.0", null)));

        assertThat(reply.getJsonObject(CniWire.RESULT).getString("echo")).isEqualTo("DEL");
        assertThat(handled).singleElement().satisfies(r -> {
            assertThat(r.containerId()).isEqualTo("abc123");
            assertThat(r.ifName()).isEqualTo("eth0");
            assertThat(r.args()).contains("K8S_POD_NAME=web-0");
        });
    }

    @Test
    void narrowsADirectoryTheKubeletMadeFirstTo0700() throws Exception {
        Files.createDirectories(socket.getParent());
        Files.setPosixFilePermissions(socket.getParent(), PosixFilePermissions.fromString("rwxr-xr-x"));

        start(CniSocketSettings.defaults(socket));

        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(socket.getParent())))
                .isEqualTo("rwx------");
    }

    @Test
    void refusesADirectoryEveryoneMayWriteAndLeavesItAsItWas() throws Exception {
        Files.createDirectories(socket.getParent());
        Files.setPosixFilePermissions(socket.getParent(), PosixFilePermissions.fromString("rwxrwxrwx"));

        assertThatThrownBy(() -> start(CniSocketSettings.defaults(socket)))
                .hasMessageContaining("writable by everyone");
        server = null;
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(socket.getParent())))
                .isEqualTo("rwxrwxrwx");
    }

    @Test
    void createsPrivateDirectoryAndSocketAndRemovesItOnStop() throws Exception {
        start(CniSocketSettings.defaults(socket));

        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(socket.getParent())))
                .isEqualTo("rwx------");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(socket))).isEqualTo("rw-------");
        assertThat(server.isListening()).isTrue();

        server.stop();
        server.stop();
        assertThat(server.isListening()).isFalse();
        assertThat(socket).doesNotExist();
    }

    @Test
    void replacesAStaleSocketFile() throws Exception {
        Files.createDirectories(socket.getParent());
        ServerSocketChannel stale = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        stale.bind(UnixDomainSocketAddress.of(socket));
        stale.close(); // the file stays, nobody listens: what a crashed daemon leaves

        CniTestClient client = start(CniSocketSettings.defaults(socket));

        assertThat(client.send(request("STATUS", "", "", "", config("1.1.0", null))).containsKey(CniWire.RESULT))
                .isTrue();
    }

    @Test
    void refusesToStartWhereADaemonListensOrOnAPlainFile() throws Exception {
        start(CniSocketSettings.defaults(socket));
        CniSocketServer second = new CniSocketServer(CniSocketSettings.defaults(socket),
                r -> Future.succeededFuture(CniReply.ok()));
        assertThatThrownBy(second::start).hasMessageContaining("another process listens");

        Path plain = tmp.resolve("plain");
        Files.writeString(plain, "not a socket");
        CniSocketServer third = new CniSocketServer(CniSocketSettings.defaults(plain),
                r -> Future.succeededFuture(CniReply.ok()));
        assertThatThrownBy(third::start).hasMessageContaining("not a socket");
        assertThat(plain).hasContent("not a socket");
    }

    @Test
    void malformedRequestsGetErrorsAndNeverReachTheHandler() throws Exception {
        CniTestClient client = start(CniSocketSettings.defaults(socket));

        assertThat(code(client.sendRaw("{not json".getBytes(StandardCharsets.UTF_8)))).isEqualTo(6);
        assertThat(code(client.sendRaw("[1,2]".getBytes(StandardCharsets.UTF_8)))).isEqualTo(6);
        assertThat(code(client.sendRaw(new byte[0]))).isEqualTo(6); // a probe: not counted
        JsonObject anyConfig = config("1.1.0", null);
        assertThat(code(raw(client, request("FROB", "abc", "/x", "eth0", anyConfig)))).isEqualTo(4);
        assertThat(code(raw(client, request("ADD", "a/b", "/x", "eth0", anyConfig)))).isEqualTo(4);
        assertThat(code(raw(client, request("ADD", "abc", "/x", "eth0/../x", anyConfig)))).isEqualTo(4);
        assertThat(code(raw(client, request("ADD", "abc", "/x", "a-very-long-interface", anyConfig)))).isEqualTo(4);
        assertThat(code(raw(client, request("ADD", "abc", "relative", "eth0", anyConfig)))).isEqualTo(4);
        assertThat(code(raw(client, request("ADD", "abc", "/x", "eth0", new JsonObject().put("name", "n")))))
                .isEqualTo(7);
        assertThat(code(raw(client, new JsonObject().put("command", "DEL").put("containerId", "abc")
                .put("ifName", "eth0")))).isEqualTo(6);

        assertThat(handled).isEmpty();
        assertThat(server.malformedRequests()).isEqualTo(9);
    }

    @Test
    void refusesRequestsLargerThanTheLimit() throws Exception {
        CniSocketSettings settings = new CniSocketSettings(socket, Set.of(0), 1024, Duration.ofSeconds(2));
        CniTestClient client = start(settings);

        JsonObject big = config("1.1.0", null).put("padding", "x".repeat(100_000));
        JsonObject reply = new JsonObject(client.sendRaw(request("DEL", "abc", "", "eth0", big).encode()
                .getBytes(StandardCharsets.UTF_8)));

        assertThat(reply.getJsonObject(CniWire.ERROR).getString(CniWire.MSG)).contains("larger than 1024 bytes");
        assertThat(handled).isEmpty();
    }

    @Test
    void refusesARequestNotCompleteInTime() throws Exception {
        CniSocketSettings settings = new CniSocketSettings(socket, Set.of(0), 65536, Duration.ofMillis(200));
        CniTestClient client = start(settings);

        long started = System.nanoTime();
        String reply = client.sendIncomplete("{\"command\":\"ADD\"".getBytes(StandardCharsets.UTF_8));

        assertThat(new JsonObject(reply).getJsonObject(CniWire.ERROR).getString(CniWire.MSG))
                .contains("not complete within 200 ms");
        assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(2));
        assertThat(server.malformedRequests()).isEqualTo(1);
    }

    @Test
    void refusesPeersWhoseUidIsNotAllowed() throws Exception {
        int ownUid = (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
        CniSocketSettings settings = CniSocketSettings.defaults(socket).withAllowedUids(Set.of(ownUid + 4242));
        CniTestClient client = start(settings);

        JsonObject reply = client.send(request("DEL", "abc", "", "eth0", config("1.1.0", null)));

        assertThat(reply.getJsonObject(CniWire.ERROR).getString(CniWire.MSG))
                .isEqualTo("uid " + ownUid + " may not use the enilb CNI socket");
        assertThat(handled).isEmpty();
        assertThat(server.refusedPeers()).isEqualTo(1);
    }

    @Test
    void handlerFailuresBecomeCniErrors() throws Exception {
        server = new CniSocketServer(CniSocketSettings.defaults(socket),
                r -> Future.failedFuture(new CniFailure(50, "enilb is not ready", "datapath")));
        server.start();

        JsonObject error = new CniTestClient(socket).send(request("STATUS", "", "", "", config("1.1.0", null)))
                .getJsonObject(CniWire.ERROR);

        assertThat(error.getInteger(CniWire.CODE)).isEqualTo(50);
        assertThat(error.getString(CniWire.DETAILS)).isEqualTo("datapath");
    }

    private static String raw(CniTestClient client, JsonObject request) throws IOException {
        return client.sendRaw(request.encode().getBytes(StandardCharsets.UTF_8));
    }

    private static int code(String reply) {
        return new JsonObject(reply).getJsonObject(CniWire.ERROR).getInteger(CniWire.CODE);
    }
}
