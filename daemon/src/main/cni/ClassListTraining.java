import java.io.ByteArrayOutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;

import io.enilb.cni.plugin.EnilbCni;

/**
 * Build time only, never installed: the request the class-data archive of enilb-cni's runtime is
 * made from. A stand-in for enilbd listens on the socket named by the first argument and answers
 * one ADD as the daemon does; enilb-cni then runs in this same process with the ADD its caller
 * set up (CNI_* environment, the config on stdin), so that -XX:DumpLoadedClassList records every
 * class, lambda and method-handle form of a real ADD, the reply included.
 */
public final class ClassListTraining {
    public static void main(String[] args) throws Exception {
        ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(args[0]));
        Thread daemon = new Thread(() -> answer(server), "enilbd stand-in");
        daemon.setDaemon(true);
        daemon.start();
        EnilbCni.main(new String[0]); // exits the JVM
    }

    private static void answer(ServerSocketChannel server) {
        try (SocketChannel connection = server.accept()) {
            ByteArrayOutputStream request = new ByteArrayOutputStream();
            ByteBuffer in = ByteBuffer.allocate(8192);
            while (connection.read(in) >= 0) {
                request.write(in.array(), 0, in.position());
                in.clear();
            }
            String reply = "{\"result\":{\"cniVersion\":\"1.1.0\",\"interfaces\":[{\"name\":\"eth0\",\"sandbox\":\"/var/run/netns/training\"}],"
                    + "\"ips\":[{\"address\":\"198.18.0.2/24\",\"interface\":0,\"gateway\":\"198.18.0.1\"}]}}";
            connection.write(ByteBuffer.wrap(reply.getBytes(StandardCharsets.UTF_8)));
        } catch (Exception e) {
            throw new IllegalStateException("the training daemon failed", e);
        }
    }
}
