package io.enilb.cni.plugin;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

class EnilbCniTest {
    private static final String PREV_RESULT = "{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"eth0\","
            + "\"sandbox\":\"/var/run/netns/cni-1\"}],\"ips\":[{\"address\":\"198.18.0.5/16\",\"interface\":0}]}";

    @TempDir
    Path tmp;
    FakeDaemon daemon;
    final ByteArrayOutputStream stdout = new ByteArrayOutputStream();
    final ByteArrayOutputStream stderr = new ByteArrayOutputStream();
    int status;

    @AfterEach
    void tearDown() throws Exception {
        if (daemon != null) {
            daemon.close();
        }
    }

    private String config(String version, String extra) {
        return "{\"cniVersion\":\"" + version + "\",\"name\":\"pods\",\"type\":\"enilb\",\"socket\":\""
                + tmp.resolve("cni.sock") + "\"" + extra + "}";
    }

    private Map<String, String> env(String command) {
        Map<String, String> env = new HashMap<>();
        env.put("CNI_COMMAND", command);
        env.put("CNI_CONTAINERID", "5ddb4f0c1e2a");
        env.put("CNI_NETNS", "/var/run/netns/cni-1");
        env.put("CNI_IFNAME", "eth0");
        env.put("CNI_ARGS", "K8S_POD_NAME=web-0");
        env.put("CNI_PATH", "/opt/cni/bin");
        return env;
    }

    private String run(Map<String, String> env, String stdin) {
        stdout.reset();
        PrintStream out = new PrintStream(stdout, true, StandardCharsets.UTF_8);
        PrintStream err = new PrintStream(stderr, true, StandardCharsets.UTF_8);
        status = new EnilbCni(env, new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8)), out, err).run();
        return stdout.toString(StandardCharsets.UTF_8).trim();
    }

    private Map<?, ?> runJson(Map<String, String> env, String stdin) throws Exception {
        return (Map<?, ?>) Json.parse(run(env, stdin));
    }

    private long code(Map<?, ?> error) {
        return ((Json.Num) error.get("code")).longValue(-1);
    }

    @Test
    void versionIsAnsweredLocally() throws Exception {
        assertThat(run(env("VERSION"), config("1.0.0", "")))
                .isEqualTo("{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[\"0.4.0\",\"1.0.0\",\"1.1.0\"]}");
        assertThat(status).isZero();
        assertThat(run(env("VERSION"), "")).startsWith("{\"cniVersion\":\"1.1.0\"");
        for (String odd : new String[] {"garbage", "{}", "[]", "{\"cniVersion\":5}", "{\"cniVersion\":\"9.9.9\"}"}) {
            assertThat(run(env("VERSION"), odd)).as(odd).startsWith("{\"cniVersion\":\"1.1.0\"");
            assertThat(status).isZero();
        }
        assertThat(status).isZero();
    }

    @Test
    void addForwardsAndPrintsPrevResultInTheConfigVersion() throws Exception {
        daemon = new FakeDaemon(tmp.resolve("cni.sock"), "{\"result\":" + PREV_RESULT + "}");

        String printed = run(env("ADD"), config("1.1.0", ",\"prevResult\":" + PREV_RESULT));

        assertThat(status).isZero();
        assertThat(printed).isEqualTo(PREV_RESULT.replace("\"1.0.0\"", "\"1.1.0\""));
        Map<?, ?> request = (Map<?, ?>) Json.parse(daemon.requests.poll(5, TimeUnit.SECONDS));
        assertThat(request.get("command")).isEqualTo("ADD");
        assertThat(request.get("containerId")).isEqualTo("5ddb4f0c1e2a");
        assertThat(request.get("netns")).isEqualTo("/var/run/netns/cni-1");
        assertThat(request.get("ifName")).isEqualTo("eth0");
        assertThat(request.get("args")).isEqualTo("K8S_POD_NAME=web-0");
        assertThat(((Map<?, ?>) request.get("config")).get("name")).isEqualTo("pods");
    }

    @Test
    void daemonErrorsArePrintedAsCniErrors() throws Exception {
        daemon = new FakeDaemon(tmp.resolve("cni.sock"),
                "{\"error\":{\"code\":999,\"msg\":\"cannot attach to eth0: ENODEV\",\"details\":\"ENODEV\"}}");

        Map<?, ?> error = runJson(env("CHECK"), config("1.0.0", ""));

        assertThat(status).isEqualTo(1);
        assertThat(error.get("cniVersion")).isEqualTo("1.0.0");
        assertThat(code(error)).isEqualTo(999);
        assertThat(error.get("msg")).isEqualTo("cannot attach to eth0: ENODEV");
        assertThat(error.get("details")).isEqualTo("ENODEV");
    }

    @Test
    void otherCommandsPrintNothingOnSuccess() throws Exception {
        daemon = new FakeDaemon(tmp.resolve("cni.sock"), "{\"result\":{}}");

        assertThat(run(env("DEL"), config("0.4.0", ""))).isEmpty();
        assertThat(status).isZero();
        assertThat(run(env("CHECK"), config("1.0.0", ""))).isEmpty();
        assertThat(run(env("GC"), config("1.1.0", ",\"cni.dev/valid-attachments\":[]"))).isEmpty();
        assertThat(run(env("STATUS"), config("1.1.0", ""))).isEmpty();
        assertThat(status).isZero();
    }

    @Test
    void unreachableDaemonIsTryAgainLaterExceptForDel() throws Exception {
        Map<?, ?> error = runJson(env("ADD"), config("1.0.0", ",\"prevResult\":" + PREV_RESULT));
        assertThat(status).isEqualTo(1);
        assertThat(code(error)).isEqualTo(11);
        assertThat(error.get("msg")).isEqualTo("enilb daemon unreachable at " + tmp.resolve("cni.sock"));

        for (String command : new String[] {"CHECK", "GC", "STATUS"}) {
            assertThat(code(runJson(env(command), config("1.1.0", "")))).as(command).isEqualTo(11);
        }

        Map<String, String> delWithoutNetns = env("DEL");
        delWithoutNetns.remove("CNI_NETNS");
        assertThat(run(delWithoutNetns, config("1.0.0", ""))).isEmpty();
        assertThat(status).isZero();
    }

    @Test
    void addWithoutPrevResultIsInvalidConfig() throws Exception {
        Map<?, ?> error = runJson(env("ADD"), config("1.0.0", ""));
        assertThat(code(error)).isEqualTo(7);
        assertThat(status).isEqualTo(1);
    }

    @Test
    void malformedConfigs() throws Exception {
        assertThat(code(runJson(env("ADD"), "{\"cniVersion\":"))).isEqualTo(6);
        assertThat(code(runJson(env("ADD"), "[]"))).isEqualTo(6);
        assertThat(code(runJson(env("ADD"), "{\"name\":\"x\"}"))).isEqualTo(7);
        assertThat(code(runJson(env("ADD"), "{\"cniVersion\":\"1.0.0\"}"))).isEqualTo(7);
        assertThat(code(runJson(env("ADD"), "{\"cniVersion\":\"1.0.0\",\"name\":\"x\",\"socket\":5,"
                + "\"prevResult\":{}}"))).isEqualTo(7);
        assertThat(status).isEqualTo(1);
    }

    @Test
    void unsupportedVersions() throws Exception {
        Map<?, ?> error = runJson(env("ADD"), config("0.3.1", ""));
        assertThat(code(error)).isEqualTo(1);
        assertThat(error.get("cniVersion")).isEqualTo("1.1.0");
        assertThat(code(runJson(env("GC"), config("1.0.0", "")))).isEqualTo(1);
    }

    @Test
    void missingOrBadEnvironment() throws Exception {
        for (String name : new String[] {"CNI_COMMAND", "CNI_CONTAINERID", "CNI_IFNAME", "CNI_NETNS"}) {
            Map<String, String> env = env("ADD");
            env.remove(name);
            assertThat(code(runJson(env, config("1.0.0", ",\"prevResult\":" + PREV_RESULT)))).as(name)
                    .isEqualTo(4);
        }
        Map<?, ?> error = runJson(env("FROB"), config("1.0.0", ""));
        assertThat(code(error)).isEqualTo(4);
        assertThat(error.get("cniVersion")).isEqualTo("1.0.0");
    }

    @Test
    void malformedDaemonReplyIsAnError() throws Exception {
        daemon = new FakeDaemon(tmp.resolve("cni.sock"), "not json");

        assertThat(code(runJson(env("DEL"), config("1.0.0", "")))).isEqualTo(999);
    }

    @Test
    void anyInputGivesACniErrorNeverAStackTrace() throws Exception {
        java.util.Random random = new java.util.Random(7);
        String valid = config("1.0.0", ",\"prevResult\":" + PREV_RESULT);
        for (int i = 0; i < 500; i++) {
            String stdin;
            if (i % 2 == 0) {
                byte[] bytes = new byte[random.nextInt(200)];
                random.nextBytes(bytes);
                stdin = new String(bytes, StandardCharsets.ISO_8859_1);
            } else {
                stdin = valid.substring(0, random.nextInt(valid.length()));
            }
            String command = new String[] {"ADD", "DEL", "CHECK", "GC", "STATUS", "", "add"}[random.nextInt(7)];

            Map<?, ?> error = runJson(env(command), stdin);

            assertThat(status).as("input %d", i).isEqualTo(1);
            assertThat(code(error)).as("input %d", i).isIn(1L, 4L, 6L, 7L, 11L);
        }
        assertThat(stderr.toString(StandardCharsets.UTF_8)).doesNotContain("Exception");
    }

    /** A daemon that answers every connection with the same reply and keeps the requests. */
    private static final class FakeDaemon implements AutoCloseable {
        final BlockingQueue<String> requests = new LinkedBlockingQueue<>();
        private final ServerSocketChannel server;
        private final Thread thread;

        FakeDaemon(Path socket, String reply) throws IOException {
            server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            server.bind(UnixDomainSocketAddress.of(socket));
            thread = new Thread(() -> {
                while (server.isOpen()) {
                    try (SocketChannel connection = server.accept()) {
                        ByteArrayOutputStream request = new ByteArrayOutputStream();
                        ByteBuffer in = ByteBuffer.allocate(4096);
                        while (connection.read(in) >= 0) {
                            request.write(in.array(), 0, in.position());
                            in.clear();
                        }
                        requests.add(request.toString(StandardCharsets.UTF_8));
                        connection.write(ByteBuffer.wrap(reply.getBytes(StandardCharsets.UTF_8)));
                    } catch (IOException closed) {
                        return;
                    }
                }
            }, "fake-enilbd");
            thread.start();
        }

        @Override
        public void close() throws Exception {
            server.close();
            thread.join(5000);
        }
    }
}
