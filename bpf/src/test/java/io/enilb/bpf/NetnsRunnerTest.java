package io.enilb.bpf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The namespace thread: tasks run in the pod's namespace, the thread always ends up home or is replaced. */
@org.junit.jupiter.api.Tag("kernel") // root, BPF and network namespaces: left out by -DexcludedGroups=kernel
class NetnsRunnerTest {
    private static final Path THREAD_NS = Path.of("/proc/thread-self/ns/net");
    private static final Path HOST_NS = Path.of("/proc/self/ns/net");

    private TestNamespace pod;

    @BeforeEach
    void create() {
        pod = new TestNamespace();
    }

    @AfterEach
    void remove() {
        pod.close();
    }

    @Test
    void aTaskRunsInThePodsNamespaceAndTheNextOneAtHome() throws Exception {
        try (NetnsRunner runner = new NetnsRunner()) {
            Object inPod = runner.call(pod.path(), () -> TestNamespace.inode(THREAD_NS));
            assertThat(inPod).isEqualTo(TestNamespace.inode(pod.path()));
            // a failing task returns home too
            assertThatThrownBy(() -> runner.call(pod.path(), () -> {
                throw new IllegalStateException("boom");
            })).hasMessage("boom");
            Object after = runner.call(HOST_NS, () -> TestNamespace.inode(THREAD_NS));
            assertThat(after).isEqualTo(TestNamespace.inode(HOST_NS));
        }
    }

    @Test
    void aThreadThatCannotReturnHomeIsReplaced() throws Exception {
        AtomicBoolean failNextReturn = new AtomicBoolean();
        Bpf bpf = Bpf.get();
        Object hostInode = TestNamespace.inode(HOST_NS);
        NetnsRunner.Setns failingReturn = (fd, type) -> {
            if (failNextReturn.get() && inodeOf(Path.of("/proc/self/fd/" + fd)).equals(hostInode)) {
                failNextReturn.set(false);
                return -1; // as if setns(2) had failed: the thread stays in the pod's namespace
            }
            return bpf.libc.setns(fd, type);
        };
        try (NetnsRunner runner = new NetnsRunner(Duration.ofSeconds(10), failingReturn)) {
            Path first = runner.call(pod.path(), NetnsRunnerTest::threadDir);
            assertThat(TestNamespace.inode(first.resolve("ns/net"))).as("home between tasks").isEqualTo(hostInode);

            failNextReturn.set(true);
            assertThatThrownBy(() -> runner.call(pod.path(), () -> "done"))
                    .isInstanceOf(BpfException.class).hasMessageContaining("discarding thread");
            Path second = runner.call(pod.path(), NetnsRunnerTest::threadDir);

            assertThat(second).as("a new thread").isNotEqualTo(first);
            assertThat(TestNamespace.inode(second.resolve("ns/net"))).as("new thread home").isEqualTo(hostInode);
            org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10)).untilAsserted(() ->
                    assertThat(first).as("the stranded thread ended").doesNotExist());
        }
    }

    /** /proc/self/task/TID of the calling thread. */
    private static Path threadDir() throws Exception {
        return Path.of("/proc").resolve(Files.readSymbolicLink(Path.of("/proc/thread-self")));
    }

    private static Object inodeOf(Path nsFile) {
        try {
            return TestNamespace.inode(nsFile);
        } catch (java.io.IOException e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void aCallGivesUpAfterItsTimeoutAndTheRunnerGoesOn() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        try (NetnsRunner runner = new NetnsRunner(Duration.ofMillis(200))) {
            assertThatThrownBy(() -> runner.call(pod.path(), () -> release.await(30, TimeUnit.SECONDS)))
                    .isInstanceOf(BpfException.class).hasMessageContaining("timed out after 200 ms");
            release.countDown();
            assertThat(runner.call(pod.path(), () -> "next")).isEqualTo("next");
        }
    }

    @Test
    void aPathThatIsNotANamespaceIsRefusedAndTheThreadStaysHome() throws Exception {
        try (NetnsRunner runner = new NetnsRunner()) {
            assertThatThrownBy(() -> runner.call(Path.of("/proc/self/ns/uts"), () -> "never"))
                    .isInstanceOf(BpfException.class).hasMessageContaining("EINVAL");
            assertThat(runner.call(HOST_NS, () -> TestNamespace.inode(THREAD_NS))).isEqualTo(TestNamespace.inode(HOST_NS));
        }
    }
}
