package io.enilb.bpf;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The cgroup socket hooks as the kernel holds them: attached at the cgroup v2 root through pinned
 * links, the program swapped inside the same links by a second load (a daemon restart), removed
 * with their pins.
 */
@org.junit.jupiter.api.Tag("kernel") // root, BPF and network namespaces: left out by -DexcludedGroups=kernel
class SocketHooksTest {
    private final DatapathFixture dp = new DatapathFixture();
    private final Path root = CgroupV2.root().orElseThrow(() -> new AssertionError("no cgroup v2 mount on this host"));

    @AfterEach
    void cleanUp() {
        dp.close();
    }

    @Test
    void eachHookIsAPinnedLinkOnTheCgroupRootServedByItsProgram() {
        List<SocketHooks.Attached> attached = dp.datapath.attachSocketHooks(root);

        assertThat(attached).extracting(SocketHooks.Attached::hook)
                .containsExactly("connect4", "connect6", "sendmsg4", "sendmsg6", "recvmsg4", "recvmsg6", "getpeername4",
                        "getpeername6");
        for (SocketHooks.Attached a : attached) {
            assertThat(a.programName()).isEqualTo("enilb_" + a.hook());
            assertThat(a.programId()).isEqualTo(dp.datapath.program("enilb_" + a.hook()).id());
            assertThat(a.cgroup()).isEqualTo(root.toString());
            assertThat(dp.pinRoot.resolve("links").resolve(a.hook())).exists();
        }
        assertThat(cgroupPrograms()).contains("enilb_connect4", "enilb_sendmsg4", "enilb_recvmsg4", "enilb_getpeername4",
                "enilb_connect6", "enilb_sendmsg6", "enilb_recvmsg6", "enilb_getpeername6");
        assertThat(dp.datapath.socketHooks()).isEqualTo(attached);
    }

    /**
     * The unconnected UDP flows before they held their last use (sock_flow_value of 16 and 28
     * bytes, _v2): a restarted daemon drops their pins (per-socket state, nothing to migrate) and
     * pins the _v3 maps, instead of refusing a pin of the old layout.
     */
    @Test
    void aLoadRemovesThePinsOfTheRetiredSocketFlowMaps() {
        Map<String, String> oldValueSizes = Map.of("enilb_sockflow4_v2", "16", "enilb_sockflow6_v2", "28");
        assertThat(BpfObject.MapNames.RETIRED).containsExactlyInAnyOrderElementsOf(oldValueSizes.keySet());
        for (var old : oldValueSizes.entrySet()) {
            TcCoexistenceTest.run("bpftool", "map", "create", dp.pinRoot.resolve(old.getKey()).toString(), "type",
                    "lru_hash", "key", old.getKey().contains("6") ? "32" : "16", "value", old.getValue(), "entries", "16",
                    "name", "enilb_retired");
        }
        try (Datapath again = Datapath.load(TestObjects.bpfObject(), dp.pinRoot, Map.of())) {
            for (String old : oldValueSizes.keySet()) {
                assertThat(dp.pinRoot.resolve(old)).doesNotExist();
            }
            assertThat(dp.pinRoot.resolve(BpfObject.MapNames.SOCK_FLOWS)).exists();
            assertThat(dp.pinRoot.resolve(BpfObject.MapNames.SOCK_FLOWS6)).exists();
        }
    }

    @Test
    void aSecondLoadReplacesTheProgramsInsideTheSameLinks() {
        List<SocketHooks.Attached> first = dp.datapath.attachSocketHooks(root);
        try (Datapath again = Datapath.load(TestObjects.bpfObject(), dp.pinRoot, Map.of())) {
            List<SocketHooks.Attached> second = again.attachSocketHooks(root);
            for (int i = 0; i < first.size(); i++) {
                assertThat(second.get(i).linkId()).isEqualTo(first.get(i).linkId());
                assertThat(second.get(i).programId()).isNotEqualTo(first.get(i).programId())
                        .isEqualTo(again.program(second.get(i).programName()).id());
            }
            // the old programs left the root: no moment with two copies, none with none
            Set<Integer> onRoot = cgroupProgramIds();
            assertThat(onRoot).containsAll(second.stream().map(SocketHooks.Attached::programId).toList());
            assertThat(onRoot).doesNotContainAnyElementsOf(first.stream().map(SocketHooks.Attached::programId).toList());
        }
    }

    @Test
    void detachRemovesTheHooksAndTheirPins() {
        List<SocketHooks.Attached> attached = dp.datapath.attachSocketHooks(root);
        dp.datapath.detachSocketHooks();

        assertThat(dp.datapath.socketHooks()).isEmpty();
        assertThat(Files.exists(dp.pinRoot.resolve("links"))).isFalse();
        assertThat(cgroupProgramIds())
                .doesNotContainAnyElementsOf(attached.stream().map(SocketHooks.Attached::programId).toList());
    }

    @Test
    void theHostsRootCgroupIsTheHierarchyRootAndAChildIsNot() throws Exception {
        assertThat(CgroupV2.isHierarchyRoot(root)).isTrue();
        Path child = Files.createDirectory(root.resolve("enilb-test-" + java.util.UUID.randomUUID().toString().substring(0, 8)));
        try {
            // what a container with a private cgroup namespace sees as its "/"
            assertThat(CgroupV2.isHierarchyRoot(child)).isFalse();
        } finally {
            Files.delete(child);
        }
    }

    /** bpftool's view of the programs on the cgroup root (other helpers' hooks may be there too). */
    private String cgroupPrograms() {
        return TcCoexistenceTest.run("bpftool", "cgroup", "show", root.toString());
    }

    /** Ids of the programs on the cgroup root (bpftool's first column). */
    private Set<Integer> cgroupProgramIds() {
        return cgroupPrograms().lines().map(String::trim).filter(l -> !l.isEmpty() && Character.isDigit(l.charAt(0)))
                .map(l -> Integer.parseInt(l.split("\\s+")[0])).collect(Collectors.toSet());
    }
}
