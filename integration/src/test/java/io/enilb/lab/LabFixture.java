package io.enilb.lab;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Map;
import java.util.UUID;

import io.enilb.bpf.BpfObject;
import io.enilb.bpf.Datapath;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;

/**
 * What a kernel test class sets up besides its own pods and Services: the lab, the real daemon as
 * a process, the datapath loaded in this JVM. Each test class (under
 * {@code @ExtendWith(LabFixture.Extension.class)}) takes it as a parameter of its {@code @BeforeAll}
 * (or {@code @BeforeEach}) method and gets its own; JUnit closes it when that scope ends, after the
 * class's {@code @AfterAll} (or the test's {@code @AfterEach}), also when the set-up failed half-way.
 * Closing removes what was made, the last made first, and checks that no namespace or pin is left.
 */
public final class LabFixture implements AutoCloseable {
    private static final Duration DAEMON_READY = Duration.ofSeconds(60);

    /** What close() undoes, the last made on top. */
    private final Deque<AutoCloseable> made = new ArrayDeque<>();
    private Lab lab;
    private DaemonProcess daemon;

    /** The lab, made on the first call. */
    public Lab lab() {
        if (lab == null) {
            Lab fresh = new Lab();
            made.push(() -> {
                fresh.close();
                assertThat(fresh.remainingNamespaces()).as("namespaces of the lab left after close").isEmpty();
            });
            lab = fresh;
        }
        return lab;
    }

    /**
     * The real daemon of the distribution ({@link DaemonProcess#distribution()}), prepared but not
     * started, with {@code env} added to its environment; one per fixture.
     */
    public DaemonProcess daemon(Map<String, String> env) {
        if (daemon != null) {
            throw new IllegalStateException("this fixture has its daemon already");
        }
        daemon = new DaemonProcess(DaemonProcess.distribution(), env);
        made.push(daemon);
        return daemon;
    }

    /**
     * Starts the daemon, waits until it is ready (at most 60 s), then attaches each pod the way a
     * container runtime does: the real enilb-cni ADD against the daemon's socket.
     */
    public void startDaemonAndAdd(Pod... pods) {
        if (daemon == null) {
            throw new IllegalStateException("no daemon: call daemon(env) first");
        }
        daemon.startAndAwaitReady(DAEMON_READY);
        CniPlugin plugin = CniPlugin.of(DaemonProcess.distribution());
        for (Pod pod : pods) {
            CniPlugin.Run add = plugin.add(pod, daemon.socket());
            assertThat(add.status()).as("CNI ADD of pod %s: %s", pod.name(), add.stdout()).isZero();
        }
    }

    /**
     * The compiled BPF object (system property {@code enilb.bpf.object}) loaded in this JVM, its
     * maps pinned under a pin root of its own (/sys/fs/bpf/enilb-lab-…).
     */
    public Datapath datapath() {
        Path pins = Path.of("/sys/fs/bpf/enilb-lab-" + UUID.randomUUID().toString().substring(0, 8));
        // pushed before the load: a load that fails half-way may have pinned some maps already
        made.push(() -> {
            BpfObject.unpinAll(pins);
            assertThat(pins).as("pins removed").doesNotExist();
        });
        Datapath datapath = Datapath.load(Path.of(System.getProperty("enilb.bpf.object")), pins, Map.of());
        made.push(datapath);
        return datapath;
    }

    /** Undoes everything, the last made first; a step that fails does not keep the others from running. */
    @Override
    public void close() throws Exception {
        Throwable first = null;
        while (!made.isEmpty()) {
            try {
                made.pop().close();
            } catch (Throwable t) {
                if (first == null) {
                    first = t;
                } else {
                    first.addSuppressed(t);
                }
            }
        }
        if (first instanceof Error e) {
            throw e;
        }
        if (first instanceof Exception e) {
            throw e;
        }
    }

    /**
     * Hands a {@link LabFixture} parameter its fixture, kept in the store of the scope that asks
     * for it (the test class for {@code @BeforeAll}, the test for {@code @BeforeEach}), which
     * closes it when the scope ends.
     */
    public static final class Extension implements ParameterResolver {
        private static final ExtensionContext.Namespace NAMESPACE = ExtensionContext.Namespace.create(LabFixture.class);

        @Override
        public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
            return parameter.getParameter().getType() == LabFixture.class;
        }

        @Override
        public Object resolveParameter(ParameterContext parameter, ExtensionContext context) {
            return context.getStore(NAMESPACE).getOrComputeIfAbsent(LabFixture.class);
        }
    }
}
