package io.enilb.bpf;

import static io.enilb.bpf.TcCoexistenceTest.netns;
import static io.enilb.bpf.TcCoexistenceTest.quietly;
import static io.enilb.bpf.TcCoexistenceTest.run;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.stream.Stream;

import io.enilb.bpf.PodDatapath.AttachedProgram;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * enilb's programs on pods as tcx links, as the kernel holds them: with auto, clsact filters at
 * once and links after {@code promote}; with tcx, links at once and no qdisc made; pinned by the
 * pod's namespace, the program swapped inside the same links by a second load (a daemon restart),
 * a switch to and from clsact that leaves one of the two, the links of a namespace deleted
 * without a detach released (by its cookie, or as defunct), and on a kernel without tcx (its
 * bpf_link_create answer stood in for), auto falling back to clsact and tcx refusing clearly.
 */
@org.junit.jupiter.api.Tag("kernel") // root, BPF and network namespaces: left out by -DexcludedGroups=kernel
class TcxLinksTest {
    private static final List<String> PINS = List.of("egress-eth0", "ingress-eth0", "egress-lo");

    private final String id = UUID.randomUUID().toString().substring(0, 6);
    private final List<String> namespaces = new ArrayList<>();
    private final DatapathFixture dp = new DatapathFixture();

    @org.junit.jupiter.api.BeforeEach
    void kernelHasTcx() {
        String[] version = System.getProperty("os.version").split("[.-]");
        int major = Integer.parseInt(version[0]);
        int minor = Integer.parseInt(version[1]);
        assertThat(major > 6 || major == 6 && minor >= 6)
                .as("tcx links need Linux 6.6 or later; this kernel is %s", System.getProperty("os.version")).isTrue();
    }

    @AfterEach
    void cleanUp() {
        namespaces.forEach(ns -> quietly("ip", "netns", "del", ns));
        dp.close();
    }

    @Test
    void autoAttachesClsactAtOnceAndPromoteMovesEachProgramToALinkPinnedByThePodsNamespace() {
        Path pod = pod("a");
        dp.datapath.attach(pod, "eth0");
        assertThat(attachments(dp.datapath, pod)).containsExactly("clsact", "clsact", "clsact");

        assertThat(dp.datapath.promote(pod, "eth0")).isTrue();
        assertThat(dp.datapath.promote(pod, "eth0")).as("nothing left to move").isFalse();

        assertThat(dp.datapath.tcAttachInEffect()).isEqualTo(TcAttach.TCX);
        assertThat(dp.datapath.attached(pod, "eth0")).containsExactly(
                new AttachedProgram("eth0", "egress", dp.egress().id(), "enilb_egress", "tcx"),
                new AttachedProgram("eth0", "ingress", dp.ingress().id(), "enilb_ingress", "tcx"),
                new AttachedProgram("lo", "egress", dp.loEgress().id(), "enilb_lo_egress", "tcx"));
        assertThat(names(linkDir(pod))).containsExactlyInAnyOrderElementsOf(PINS);
        assertThat(run("nsenter", "--net=" + pod, "tc", "filter", "show", "dev", "eth0", "egress"))
                .doesNotContain("enilb");
        dp.datapath.attach(pod, "eth0");
        assertThat(attachments(dp.datapath, pod)).as("an attach again keeps the links")
                .containsExactly("tcx", "tcx", "tcx");
    }

    @Test
    void tcxAttachesLinksAtOnceAndMakesNoQdisc() {
        Path pod = pod("a");
        try (Datapath tcx = load(TcAttach.TCX)) {
            tcx.attach(pod, "eth0");

            assertThat(attachments(tcx, pod)).containsExactly("tcx", "tcx", "tcx");
            assertThat(tcx.promote(pod, "eth0")).isFalse();
        }
        assertThat(run("nsenter", "--net=" + pod, "tc", "qdisc", "show", "dev", "eth0")).doesNotContain("clsact");
        assertThat(run("nsenter", "--net=" + pod, "tc", "qdisc", "show", "dev", "lo")).doesNotContain("clsact");
    }

    @Test
    void aSecondLoadReplacesTheProgramsInsideTheSameLinks() {
        Path pod = attachedPod("a");
        Map<String, Integer> linkIds = linkIds(pod);
        try (Datapath again = Datapath.load(TestObjects.bpfObject(), dp.pinRoot, Map.of())) {
            again.attach(pod, "eth0");

            assertThat(linkIds(pod)).as("the same links").isEqualTo(linkIds);
            assertThat(again.attached(pod, "eth0")).extracting(AttachedProgram::programId)
                    .containsExactly(again.program(Datapath.EGRESS).id(), again.program(Datapath.INGRESS).id(),
                            again.program(Datapath.LO_EGRESS).id())
                    .doesNotContain(dp.egress().id(), dp.ingress().id(), dp.loEgress().id());
        }
    }

    @Test
    void aSwitchToClsactAndBackLeavesEnilbOnEachHookOnce() {
        Path pod = attachedPod("a");
        try (Datapath clsact = load(TcAttach.CLSACT)) {
            clsact.attach(pod, "eth0");
            assertThat(attachments(clsact, pod)).containsExactly("clsact", "clsact", "clsact");
            assertThat(linkDir(pod)).doesNotExist();
            assertThat(run("nsenter", "--net=" + pod, "tc", "filter", "show", "dev", "eth0", "ingress"))
                    .contains("enilb_ingress");
        }
        // an earlier daemon's filters, as after an upgrade from a version that knew only clsact
        dp.datapath.attach(pod, "eth0");
        assertThat(dp.datapath.promote(pod, "eth0")).isTrue();
        assertThat(attachments(dp.datapath, pod)).containsExactly("tcx", "tcx", "tcx");
        assertThat(run("nsenter", "--net=" + pod, "tc", "filter", "show", "dev", "eth0", "ingress"))
                .doesNotContain("enilb");
        assertThat(run("nsenter", "--net=" + pod, "tc", "filter", "show", "dev", "lo", "egress"))
                .doesNotContain("enilb");
    }

    @Test
    void detachRemovesTheLinksAndTheirNamespacesDirectory() {
        Path pod = attachedPod("a");
        Path other = attachedPod("b");
        Path dir = linkDir(pod);

        dp.datapath.detach(pod, "eth0");
        dp.datapath.detach(pod, "eth0");

        assertThat(dp.datapath.attached(pod, "eth0")).isEmpty();
        assertThat(dir).doesNotExist();
        assertThat(dp.datapath.attached(other, "eth0")).hasSize(3);
    }

    @Test
    void theLinksOfANamespaceThatWentAreReleasedByItsCookie() {
        Path pod = attachedPod("a");
        Path other = attachedPod("b");
        long cookie = dp.datapath.netnsCookie(pod);
        Path dir = linkDir(pod);
        assertThat(dp.datapath.releaseDefunct()).as("nothing defunct while both live").isZero();

        dp.datapath.detachGone(cookie);
        dp.datapath.detachGone(cookie);

        assertThat(dir).doesNotExist();
        assertThat(dp.datapath.attached(pod, "eth0")).as("detached, also from a namespace still there").isEmpty();
        assertThat(dp.datapath.attached(other, "eth0")).hasSize(3);
    }

    @Test
    void theLinksOfANamespaceDeletedWithoutADetachAreReleasedOnceDefunct() {
        Path pod = attachedPod("a");
        Path other = attachedPod("b");
        Path dir = linkDir(pod);

        run("ip", "netns", "del", pod.getFileName().toString());
        // the kernel takes a namespace's devices down after its last user, on a work queue
        List<Integer> released = new ArrayList<>();
        await().atMost(Duration.ofSeconds(10)).until(() -> {
            released.add(dp.datapath.releaseDefunct());
            return !Files.exists(dir);
        });

        assertThat(released.stream().mapToInt(Integer::intValue).sum()).isEqualTo(3);
        assertThat(dp.datapath.attached(other, "eth0")).hasSize(3);
        assertThat(names(linkDir(other))).containsExactlyInAnyOrderElementsOf(PINS);
    }

    /** A second datapath on the test's pin root (a daemon started again), with {@code tcAttach}. */
    private Datapath load(TcAttach tcAttach) {
        return Datapath.load(TestObjects.bpfObject(), dp.pinRoot, Map.of(), tcAttach);
    }

    /** How each of the pod's three hooks has its program: "tcx" or "clsact" (both during a move). */
    private static List<String> attachments(Datapath datapath, Path pod) {
        return datapath.attached(pod, "eth0").stream().map(AttachedProgram::attachment).toList();
    }

    /**
     * A second datapath as on a kernel before 6.6, whose bpf_link_create answers EINVAL for an
     * attach type it does not know.
     */
    private Datapath withoutTcx(TcAttach tcAttach) {
        return Datapath.load(TestObjects.bpfObject(), dp.pinRoot, Map.of(), tcAttach, pinRoot -> new TcxLinks(pinRoot) {
            @Override
            int linkCreate(int programFd, int ifindex, int attachType, jnr.ffi.Pointer opts) {
                return -jnr.constants.platform.Errno.EINVAL.intValue();
            }
        });
    }

    @Test
    void autoFallsBackToClsactOnAKernelWithoutTcx() {
        Path pod = pod("a");
        try (Datapath old = withoutTcx(TcAttach.AUTO)) {
            old.attach(pod, "eth0");
            assertThat(old.tcAttachInEffect()).as("before a link was tried").isEqualTo(TcAttach.AUTO);

            assertThat(old.promote(pod, "eth0")).isFalse();
            assertThat(old.tcAttachInEffect()).isEqualTo(TcAttach.CLSACT);
            assertThat(attachments(old, pod)).containsExactly("clsact", "clsact", "clsact");
            assertThat(linkDir(pod)).doesNotExist();
        }
    }

    @Test
    void tcxOnAKernelWithoutItFailsSayingWhatToSet() {
        Path pod = pod("a");
        try (Datapath old = withoutTcx(TcAttach.TCX)) {
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> old.attach(pod, "eth0"))
                    .isInstanceOf(BpfException.class).hasMessageContaining("Linux 6.6")
                    .hasMessageContaining("bpf.tc-attach to auto or clsact");
        }
        assertThat(dp.datapath.attached(pod, "eth0")).isEmpty();
        assertThat(linkDir(pod)).doesNotExist();
    }

    /** A namespace with eth0 (one end of a veth pair) and lo, both up, with enilb's programs in tcx links. */
    private Path attachedPod(String name) {
        Path pod = pod(name);
        dp.datapath.attach(pod, "eth0");
        dp.datapath.promote(pod, "eth0");
        return pod;
    }

    /** A namespace with eth0 (one end of a veth pair) and lo, both up. */
    private Path pod(String name) {
        String ns = "enilb-tcx-" + id + "-" + name;
        namespaces.add(ns);
        run("ip", "netns", "add", ns);
        run("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "peer0");
        run("ip", "-n", ns, "link", "set", "lo", "up");
        run("ip", "-n", ns, "link", "set", "eth0", "up");
        return netns(ns);
    }

    private Path linkDir(Path pod) {
        return dp.pinRoot.resolve(TcxLinks.DIR).resolve(Long.toUnsignedString(dp.datapath.netnsCookie(pod)));
    }

    /** Link id by pin name, as bpftool reads the pins. */
    private Map<String, Integer> linkIds(Path pod) {
        Map<String, Integer> out = new java.util.TreeMap<>();
        for (String name : names(linkDir(pod))) {
            String json = run("bpftool", "-j", "link", "show", "pinned", linkDir(pod).resolve(name).toString());
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"id\":(\\d+)").matcher(json);
            assertThat(m.find()).as(json).isTrue();
            out.put(name, Integer.parseInt(m.group(1)));
        }
        return out;
    }

    private static List<String> names(Path dir) {
        try (Stream<Path> files = Files.list(dir)) {
            return files.map(p -> p.getFileName().toString()).toList();
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }
}
