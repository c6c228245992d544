package io.enilb.cni;

import io.vertx.core.json.JsonObject;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/** Talks to the CNI socket as enilb-cni does: one request, half-close, read the reply to the end. */
public final class CniTestClient {
    private final Path socket;

    public CniTestClient(Path socket) {
        this.socket = socket;
    }

    public JsonObject send(JsonObject request) throws IOException {
        return new JsonObject(sendRaw(request.encode().getBytes(StandardCharsets.UTF_8)));
    }

    /** Sends arbitrary bytes; returns the reply text (empty if the server closed without one). */
    public String sendRaw(byte[] request) throws IOException {
        try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            channel.connect(UnixDomainSocketAddress.of(socket));
            try {
                ByteBuffer out = ByteBuffer.wrap(request);
                while (out.hasRemaining()) {
                    channel.write(out);
                }
                channel.shutdownOutput();
            } catch (IOException refusedEarly) {
                // the server answered before reading everything (too large): read its answer
            }
            return readAll(channel);
        }
    }

    /** Connects, sends {@code partial} and does not finish: the server must time out. */
    public String sendIncomplete(byte[] partial) throws IOException {
        try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            channel.connect(UnixDomainSocketAddress.of(socket));
            channel.write(ByteBuffer.wrap(partial));
            return readAll(channel);
        }
    }

    private static String readAll(SocketChannel channel) {
        ByteArrayOutputStream reply = new ByteArrayOutputStream();
        ByteBuffer in = ByteBuffer.allocate(8192);
        try {
            while (channel.read(in) >= 0) {
                reply.write(in.array(), 0, in.position());
                in.clear();
            }
        } catch (IOException resetAfterReply) {
            // the reply, if any, is complete
        }
        return reply.toString(StandardCharsets.UTF_8);
    }

    /** A request as the plugin builds it. */
    public static JsonObject request(String command, String containerId, String netns, String ifName,
                                     JsonObject config) {
        return new JsonObject()
                .put(CniWire.COMMAND, command)
                .put(CniWire.CONTAINER_ID, containerId)
                .put(CniWire.NETNS, netns)
                .put(CniWire.IF_NAME, ifName)
                .put(CniWire.ARGS, "K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0")
                .put(CniWire.CONFIG, config);
    }

    /** A chained config with a prevResult holding {@code ip}/16 on eth0. */
    public static JsonObject config(String cniVersion, String ip) {
        JsonObject config = new JsonObject().put("cniVersion", cniVersion).put("name", "pods").put("type", "enilb");
        if (ip != null) {
            config.put("prevResult", new JsonObject()
                    .put("cniVersion", cniVersion)
                    .put("interfaces", new io.vertx.core.json.JsonArray()
                            .add(new JsonObject().put("name", "eth0").put("sandbox", "/var/run/netns/x")))
                    .put("ips", new io.vertx.core.json.JsonArray()
                            .add(new JsonObject().put("address", ip + "/16").put("gateway", "198.18.0.1")
                                    .put("interface", 0))));
        }
        return config;
    }
}
