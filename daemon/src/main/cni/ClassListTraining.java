import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Build time only, never installed: the ADD that the class-data archive of enilb-cni's runtime is
 * made from. Run with the build's JDK, it stands in for enilbd on a unix socket and answers one ADD
 * as the daemon does, while the packaged plugin (the launcher with its runtime next to it) runs that
 * ADD with -XX:DumpLoadedClassList. The list then holds every class, lambda and method-handle form
 * of a real ADD, the reply included, and nothing of this stand-in, which runs in another JVM.
 *
 * <p>Arguments: the launcher (bin/enilb-cni), the class list to write, the socket path.
 */
public final class ClassListTraining {
    private static final String RESULT = "{\"cniVersion\":\"1.1.0\",\"interfaces\":[{\"name\":\"eth0\","
            + "\"sandbox\":\"/var/run/netns/training\"}],\"ips\":[{\"address\":\"198.18.0.2/24\",\"interface\":0,"
            + "\"gateway\":\"198.18.0.1\"}]}";

    public static void main(String[] args) throws Exception {
        Path launcher = Path.of(args[0]);
        Path classList = Path.of(args[1]);
        Path socket = Path.of(args[2]);
        Files.deleteIfExists(socket);
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(socket));
            ProcessBuilder plugin = new ProcessBuilder(launcher.toString()).redirectError(ProcessBuilder.Redirect.INHERIT);
            plugin.environment().put("CNI_COMMAND", "ADD");
            plugin.environment().put("CNI_CONTAINERID", "training");
            plugin.environment().put("CNI_NETNS", "/var/run/netns/training");
            plugin.environment().put("CNI_IFNAME", "eth0");
            plugin.environment().put("JDK_JAVA_OPTIONS", "-Xshare:off -XX:DumpLoadedClassList=" + classList);
            Process run = plugin.start();
            run.getOutputStream().write(("{\"cniVersion\":\"1.1.0\",\"name\":\"training\",\"type\":\"enilb\",\"socket\":\""
                    + socket + "\",\"prevResult\":" + RESULT + "}").getBytes(StandardCharsets.UTF_8));
            run.getOutputStream().close();
            // a daemon thread: if the plugin fails before it connects, nothing waits for it
            Thread daemon = new Thread(() -> answerOne(server), "enilbd stand-in");
            daemon.setDaemon(true);
            daemon.start();
            String printed = new String(run.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!run.waitFor(60, TimeUnit.SECONDS) || run.exitValue() != 0 || !printed.contains("\"ips\"")) {
                run.destroyForcibly();
                throw new IllegalStateException("the training ADD failed: " + printed);
            }
        } finally {
            Files.deleteIfExists(socket);
        }
    }

    /** Reads one request to its end and answers it with the result, as enilbd does. */
    private static void answerOne(ServerSocketChannel server) {
        try (SocketChannel connection = server.accept()) {
            ByteArrayOutputStream request = new ByteArrayOutputStream();
            ByteBuffer in = ByteBuffer.allocate(8192);
            while (connection.read(in) >= 0) {
                request.write(in.array(), 0, in.position());
                in.clear();
            }
            connection.write(ByteBuffer.wrap(("{\"result\":" + RESULT + "}").getBytes(StandardCharsets.UTF_8)));
        } catch (IOException e) {
            throw new UncheckedIOException("the enilbd stand-in failed", e);
        }
    }
}
