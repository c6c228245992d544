package io.enilb.cni;

import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import jnr.unixsocket.Credentials;
import jnr.unixsocket.UnixServerSocketChannel;
import jnr.unixsocket.UnixSocketAddress;
import jnr.unixsocket.UnixSocketChannel;
import jnr.unixsocket.UnixSocketOptions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;

/**
 * The unix socket {@code enilb-cni} talks to. One thread accepts; a small pool reads each
 * connection's single request (bounded in size and time), checks the peer's uid (SO_PEERCRED),
 * hands the parsed request to the handler and writes its reply. None of this runs on a Vert.x
 * event loop; the handler must not block (it returns a future).
 *
 * <p>A malformed request gets a CNI error reply, is counted, and reaches no handler.
 */
public final class CniSocketServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(CniSocketServer.class);
    /** Connections served at once; more wait in the queue, beyond it they are closed unanswered. */
    private static final int CONNECTION_THREADS = 16;
    private static final int CONNECTION_QUEUE = 256;
    /** How long a connection waits for the handler (an attach takes milliseconds). */
    private static final long REPLY_TIMEOUT_MS = 60_000;

    private final CniSocketSettings settings;
    private final Function<CniRequest, Future<CniReply>> handler;
    private final AtomicLong malformed = new AtomicLong();
    private final AtomicLong refusedPeers = new AtomicLong();
    private final AtomicLong overloaded = new AtomicLong();
    private final Object lifecycle = new Object();
    private UnixServerSocketChannel server;
    private Thread acceptor;
    private ThreadPoolExecutor connections;
    private volatile boolean listening;

    /**
     * @param handler called on a server thread with every well-formed request from an allowed peer;
     *                must return quickly, with a future of the reply
     */
    public CniSocketServer(CniSocketSettings settings, Function<CniRequest, Future<CniReply>> handler) {
        this.settings = settings;
        this.handler = handler;
    }

    /**
     * Creates the socket's directory (mode 0700) if needed, replaces a stale socket file, binds
     * (socket mode 0600) and starts accepting. Blocking: call it from a worker.
     *
     * @throws IOException when the path is taken by something else or a daemon listens there
     */
    public void start() throws IOException {
        synchronized (lifecycle) {
            if (server != null) {
                throw new IllegalStateException("already started");
            }
            Path socket = settings.socket();
            prepareSocketPath(socket);
            UnixServerSocketChannel channel = UnixServerSocketChannel.open();
            try {
                channel.socket().bind(new UnixSocketAddress(socket.toFile()), 64);
                Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString("rw-------"));
            } catch (IOException | RuntimeException e) {
                channel.close();
                throw e;
            }
            server = channel;
            AtomicInteger threadNumber = new AtomicInteger();
            connections = new ThreadPoolExecutor(CONNECTION_THREADS, CONNECTION_THREADS, 30, TimeUnit.SECONDS,
                    new ArrayBlockingQueue<>(CONNECTION_QUEUE), runnable -> {
                        Thread t = new Thread(runnable, "enilb-cni-" + threadNumber.incrementAndGet());
                        t.setDaemon(true);
                        return t;
                    });
            connections.allowCoreThreadTimeOut(true);
            acceptor = new Thread(this::acceptLoop, "enilb-cni-accept");
            acceptor.setDaemon(true);
            listening = true;
            acceptor.start();
            LOG.info("cni socket {} listening (uids {})", socket, settings.allowedUids());
        }
    }

    /** Whether the socket accepts requests. */
    public boolean isListening() {
        return listening;
    }

    /** Requests refused as malformed, too large or too slow. */
    public long malformedRequests() {
        return malformed.get();
    }

    /** Connections refused because the peer's uid is not allowed. */
    public long refusedPeers() {
        return refusedPeers.get();
    }

    /** Connections closed unanswered because every connection thread was busy. */
    public long overloadedConnections() {
        return overloaded.get();
    }

    /** Stops accepting, closes the socket and removes its file. Safe to call more than once. */
    public void stop() {
        Thread acceptorThread;
        synchronized (lifecycle) {
            if (server == null || !listening) {
                return;
            }
            listening = false;
            acceptorThread = acceptor;
            // a blocked accept(2) does not return when its socket is closed: wake it by connecting
            wakeAcceptor(settings.socket());
            try {
                server.close();
            } catch (IOException e) {
                LOG.warn("cni socket {}: close failed: {}", settings.socket(), e.getMessage());
            }
            try {
                Files.deleteIfExists(settings.socket());
            } catch (IOException e) {
                LOG.warn("cni socket {}: cannot remove: {}", settings.socket(), e.getMessage());
            }
            connections.shutdown();
        }
        try {
            acceptorThread.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        LOG.info("cni socket {} closed", settings.socket());
    }

    @Override
    public void close() {
        stop();
    }

    private void prepareSocketPath(Path socket) throws IOException {
        Path dir = socket.toAbsolutePath().getParent();
        Set<PosixFilePermission> owner = PosixFilePermissions.fromString("rwx------");
        if (!Files.isDirectory(dir)) {
            Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(owner));
        } else if (!Files.getPosixFilePermissions(dir).equals(owner)) {
            // the kubelet (hostPath DirectoryOrCreate) or systemd may have made it 0755 first; a
            // shared directory such as /tmp must not be narrowed for everyone else
            if (Files.getPosixFilePermissions(dir).contains(PosixFilePermission.OTHERS_WRITE)) {
                throw new IOException(dir + " is writable by everyone; the CNI socket needs a directory of its own");
            }
            LOG.info("cni socket directory {}: mode set to 0700", dir);
        }
        // createDirectories applies the umask; the mode must be exactly 0700
        Files.setPosixFilePermissions(dir, owner);
        BasicFileAttributes existing;
        try {
            existing = Files.readAttributes(socket, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (java.nio.file.NoSuchFileException absent) {
            return;
        }
        if (!existing.isOther()) {
            throw new IOException(socket + " exists and is not a socket; not replacing it");
        }
        if (someoneListens(socket)) {
            throw new IOException(socket + ": another process listens on it (is another enilbd running?)");
        }
        Files.delete(socket);
        LOG.info("cni socket {}: removed a stale socket file", socket);
    }

    private static boolean someoneListens(Path socket) {
        try (SocketChannel probe = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            probe.connect(UnixDomainSocketAddress.of(socket));
            return true;
        } catch (IOException refused) {
            return false;
        }
    }

    private static void wakeAcceptor(Path socket) {
        try (SocketChannel probe = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            probe.connect(UnixDomainSocketAddress.of(socket));
        } catch (IOException alreadyGone) {
            // the acceptor is not blocked in accept then
        }
    }

    private void acceptLoop() {
        while (listening) {
            UnixSocketChannel connection;
            try {
                connection = server.accept();
            } catch (IOException e) {
                if (listening) {
                    LOG.warn("cni socket {}: accept failed: {}", settings.socket(), e.getMessage());
                    continue;
                }
                return;
            }
            if (connection == null) {
                continue;
            }
            if (!listening) {
                closeQuietly(connection);
                return;
            }
            try {
                connections.execute(() -> serve(connection));
            } catch (RejectedExecutionException busy) {
                overloaded.incrementAndGet();
                closeQuietly(connection);
            }
        }
    }

    /** Reads one request, answers it, closes. */
    private void serve(UnixSocketChannel connection) {
        try (connection) {
            Buffer request;
            try {
                request = readRequest(connection);
            } catch (CniFailure failure) {
                malformed.incrementAndGet();
                LOG.warn("cni request refused: {}", failure.getMessage());
                write(connection, CniReply.failed(failure));
                return;
            }
            if (request.length() == 0) {
                // a probe (a second daemon checking whether we listen): nothing was asked
                write(connection, CniReply.error(CniWire.DECODING_FAILURE, "empty request", ""));
                return;
            }
            int uid = peerUid(connection);
            if (!settings.allowedUids().contains(uid)) {
                refusedPeers.incrementAndGet();
                LOG.warn("cni request refused: peer uid {} is not allowed (cni.allowed-uids {})",
                        uid, settings.allowedUids());
                write(connection, CniReply.error(CniWire.PLUGIN_FAILURE,
                        "uid " + uid + " may not use the enilb CNI socket", "allowed: " + settings.allowedUids()));
                return;
            }
            CniRequest parsed;
            try {
                parsed = CniRequest.parse(request);
            } catch (CniFailure failure) {
                malformed.incrementAndGet();
                LOG.warn("cni request refused: {}", failure.getMessage());
                write(connection, CniReply.failed(failure));
                return;
            }
            write(connection, await(parsed));
        } catch (IOException e) {
            LOG.debug("cni connection failed: {}", e.toString()); // the peer went away
        } catch (RuntimeException e) {
            LOG.warn("cni connection failed: {}", e.toString());
        }
    }

    private CniReply await(CniRequest request) {
        try {
            return handler.apply(request).toCompletionStage().toCompletableFuture()
                    .get(REPLY_TIMEOUT_MS, TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            return CniReply.failed(e.getCause());
        } catch (TimeoutException e) {
            return CniReply.error(CniWire.TRY_AGAIN_LATER, "enilbd did not answer within " + REPLY_TIMEOUT_MS + " ms", "");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return CniReply.error(CniWire.TRY_AGAIN_LATER, "enilbd is stopping", "");
        } catch (RuntimeException e) {
            return CniReply.failed(e);
        }
    }

    /** The whole request up to the peer's end of output, within the size and time limits. */
    private Buffer readRequest(UnixSocketChannel connection) throws IOException {
        int limit = settings.maxRequestBytes();
        long deadline = System.nanoTime() + settings.readTimeout().toNanos();
        Buffer request = Buffer.buffer(Math.min(limit, 4096));
        ByteBuffer chunk = ByteBuffer.allocate(8192);
        while (true) {
            long remainingMs = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
            if (remainingMs <= 0) {
                throw new CniFailure(CniWire.DECODING_FAILURE,
                        "request not complete within " + settings.readTimeout().toMillis() + " ms");
            }
            connection.setOption(UnixSocketOptions.SO_RCVTIMEO, (int) Math.max(1, remainingMs));
            chunk.clear();
            int n = connection.read(chunk);
            if (n < 0) {
                return request;
            }
            if (n == 0) {
                continue; // SO_RCVTIMEO expired (EAGAIN): the deadline check above decides
            }
            if (request.length() + n > limit) {
                throw new CniFailure(CniWire.DECODING_FAILURE, "request larger than " + limit + " bytes");
            }
            request.appendBytes(chunk.array(), 0, n);
        }
    }

    private static int peerUid(UnixSocketChannel connection) throws IOException {
        Credentials credentials = connection.getOption(UnixSocketOptions.SO_PEERCRED);
        return credentials == null ? -1 : credentials.getUid();
    }

    private static void write(UnixSocketChannel connection, CniReply reply) throws IOException {
        ByteBuffer out = ByteBuffer.wrap(reply.toBuffer().getBytes());
        while (out.hasRemaining()) {
            if (connection.write(out) < 0) {
                return;
            }
        }
    }

    private static void closeQuietly(UnixSocketChannel connection) {
        try {
            connection.close();
        } catch (IOException ignored) {
            // nothing to do about a connection that cannot even close
        }
    }
}
