package io.enilb.daemon.systemd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;

import jnr.unixsocket.UnixDatagramChannel;
import jnr.unixsocket.UnixSocketAddress;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * sd_notify(3) over a unix datagram to $NOTIFY_SOCKET: READY=1, STATUS=..., WATCHDOG=1,
 * STOPPING=1. Without NOTIFY_SOCKET (not started by systemd) every call does nothing. A failed
 * send is logged once and never stops the daemon.
 */
public final class SdNotify implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(SdNotify.class);

    private final UnixSocketAddress target;
    private final Duration watchdogInterval;
    private UnixDatagramChannel channel;
    private boolean warned;

    private SdNotify(UnixSocketAddress target, Duration watchdogInterval) {
        this.target = target;
        this.watchdogInterval = watchdogInterval;
    }

    /** From the environment systemd sets: NOTIFY_SOCKET and WATCHDOG_USEC (with WATCHDOG_PID). */
    public static SdNotify fromEnvironment(Map<String, String> env) {
        String socket = env.get("NOTIFY_SOCKET");
        UnixSocketAddress target = null;
        if (socket != null && !socket.isEmpty()) {
            // a leading '@' names a socket in the abstract namespace
            target = new UnixSocketAddress(socket.startsWith("@") ? "\0" + socket.substring(1) : socket);
        }
        Duration watchdog = null;
        String usec = env.get("WATCHDOG_USEC");
        String pid = env.get("WATCHDOG_PID");
        if (usec != null && (pid == null || pid.equals(Long.toString(ProcessHandle.current().pid())))) {
            try {
                long micros = Long.parseLong(usec.trim());
                if (micros > 0) {
                    // systemd's advice: ping at half the timeout
                    watchdog = Duration.ofNanos(micros * 1000 / 2);
                }
            } catch (NumberFormatException e) {
                LOG.warn("ignoring WATCHDOG_USEC={}: not a number", usec);
            }
        }
        return new SdNotify(target, watchdog);
    }

    /** How often to send WATCHDOG=1, when systemd asked for it. */
    public Optional<Duration> watchdogInterval() {
        return Optional.ofNullable(watchdogInterval);
    }

    public boolean enabled() {
        return target != null;
    }

    public void ready(String status) {
        send("READY=1\nSTATUS=" + status);
    }

    public void status(String status) {
        send("STATUS=" + status);
    }

    public void watchdog() {
        send("WATCHDOG=1");
    }

    public void stopping() {
        send("STOPPING=1\nSTATUS=stopping");
    }

    private synchronized void send(String message) {
        if (target == null) {
            return;
        }
        try {
            if (channel == null) {
                channel = UnixDatagramChannel.open();
            }
            channel.send(ByteBuffer.wrap(message.getBytes(StandardCharsets.UTF_8)), target);
        } catch (IOException e) {
            if (!warned) {
                LOG.warn("sd_notify to {} failed: {}", target.path(), e.getMessage());
                warned = true;
            }
        }
    }

    @Override
    public synchronized void close() {
        if (channel != null) {
            try {
                channel.close();
            } catch (IOException e) {
                // nothing left to tell systemd
            }
            channel = null;
        }
    }
}
