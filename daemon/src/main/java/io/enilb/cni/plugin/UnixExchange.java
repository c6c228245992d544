package io.enilb.cni.plugin;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.net.ConnectException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;

/**
 * One request to enilbd and its whole reply over the unix socket ({@link Wire}). In the plugin's
 * own runtime through a small JNI library shipped in it (lib/libenilb-cni.so, from
 * src/main/cni/native): the JDK's unix-domain {@link SocketChannel} costs a run about a fifth of
 * its CPU time before the first byte is sent, all of it interpreted start-up work. With another
 * Java (the launcher's fallback, and in-process tests) the same exchange runs through the JDK.
 */
final class UnixExchange {
    private static final boolean NATIVE = loadLibrary();

    private UnixExchange() {
    }

    /** The daemon could not be reached at all: nothing was sent. */
    static final class Unreachable extends Exception {
        Unreachable(String message) {
            super(message, null, false, false);
        }
    }

    /** Sends one request and reads the whole reply. */
    static String exchange(String socket, String request) throws Unreachable, CniError {
        byte[] reply = NATIVE ? exchangeNative(socket, request) : exchangeJdk(socket, request);
        if (reply.length == 0) {
            throw new CniError(CniError.TRY_AGAIN_LATER, "enilb daemon closed the connection without a reply");
        }
        return new String(reply, StandardCharsets.UTF_8);
    }

    private static boolean loadLibrary() {
        String library = System.getProperty("java.home") + "/lib/libenilb-cni.so";
        if (!new File(library).isFile()) {
            return false;
        }
        try {
            System.load(library);
            return true;
        } catch (UnsatisfiedLinkError unusable) {
            return false; // another platform's copy: the JDK's way still works
        }
    }

    /** src/main/cni/native/unix_exchange.c: ConnectException means nothing was sent. */
    private static native byte[] nativeExchange(byte[] path, byte[] request) throws IOException;

    private static byte[] exchangeNative(String socket, String request) throws Unreachable, CniError {
        try {
            return nativeExchange(socket.getBytes(StandardCharsets.UTF_8), request.getBytes(StandardCharsets.UTF_8));
        } catch (ConnectException e) {
            throw new Unreachable(e.getMessage());
        } catch (IOException e) {
            throw new CniError(CniError.TRY_AGAIN_LATER, "enilb daemon closed the connection", e.getMessage());
        }
    }

    private static byte[] exchangeJdk(String socket, String request) throws Unreachable, CniError {
        SocketChannel channel;
        try {
            channel = SocketChannel.open(StandardProtocolFamily.UNIX);
        } catch (IOException e) {
            throw new Unreachable(String.valueOf(e.getMessage()));
        }
        try (channel) {
            try {
                channel.connect(UnixDomainSocketAddress.of(socket));
            } catch (IOException | RuntimeException e) {
                throw new Unreachable(String.valueOf(e.getMessage()));
            }
            try {
                ByteBuffer out = ByteBuffer.wrap(request.getBytes(StandardCharsets.UTF_8));
                while (out.hasRemaining()) {
                    channel.write(out);
                }
                channel.shutdownOutput();
            } catch (IOException refusedEarly) {
                // the daemon may have answered and closed already (a request it refused): read that
            }
            ByteArrayOutputStream reply = new ByteArrayOutputStream(1024);
            ByteBuffer in = ByteBuffer.allocate(8192);
            try {
                while (channel.read(in) >= 0) {
                    reply.write(in.array(), 0, in.position());
                    in.clear();
                }
            } catch (IOException e) {
                if (reply.size() == 0) {
                    throw new CniError(CniError.TRY_AGAIN_LATER, "enilb daemon closed the connection", e.getMessage());
                }
                // a reset after the reply arrived (the daemon did not read all we sent): the reply stands
            }
            return reply.toByteArray();
        } catch (IOException closeFailed) {
            throw new CniError(CniError.TRY_AGAIN_LATER, "enilb daemon connection failed", closeFailed.getMessage());
        }
    }
}
