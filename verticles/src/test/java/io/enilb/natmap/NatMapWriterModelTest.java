package io.enilb.natmap;

import static io.enilb.natmap.Fixtures.active;
import static io.enilb.natmap.Fixtures.assertMapsMatch;
import static io.enilb.natmap.Fixtures.svc;
import static io.enilb.natmap.Fixtures.tcp;
import static io.enilb.natmap.Fixtures.terminating;
import static io.enilb.natmap.Fixtures.udp;
import static io.enilb.natmap.Fixtures.upsert;
import static org.assertj.core.api.Assertions.assertThat;

import io.enilb.bpf.Structs.SvcKey;
import io.enilb.model.Backend;
import io.enilb.model.NormalizedService;
import io.enilb.model.Protocol;
import io.enilb.model.ServiceChange;
import io.enilb.model.ServiceKey;
import io.enilb.model.ServicePort;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/**
 * Random sequences of service changes; after every step the maps must equal what the current
 * services ask for. Reproduce a failure with -Dnatmap.seed=SEED (the failing sequence's seed).
 */
class NatMapWriterModelTest {
    private static final int SEQUENCES = 500;
    private static final int STEPS = 40;
    private static final String[] IPS = {"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"};
    private static final int[] TARGET_PORTS = {8080, 9090};

    @Test
    void randomSequencesKeepTheMapsEqualToTheModel() {
        randomSequences(SEQUENCES, () -> NatMaps.inMemory(64, 1024), () -> { });
    }

    /**
     * The same sequences against the real kernel maps (as root): pinned under a pin root of
     * this test's, sized like the in-memory ones, emptied between sequences.
     */
    @Test
    @org.junit.jupiter.api.Tag("kernel") // root: real BPF maps; left out by -DexcludedGroups=kernel
    void randomSequencesKeepTheKernelMapsEqualToTheModel() {
        java.nio.file.Path pins = java.nio.file.Path.of("/sys/fs/bpf/enilb-natmap-" + java.util.UUID.randomUUID().toString().substring(0, 8));
        try (io.enilb.bpf.Datapath dp = io.enilb.bpf.Datapath.load(
                java.nio.file.Path.of(System.getProperty("enilb.bpf.object")), pins,
                Map.of(io.enilb.bpf.BpfObject.MapNames.SERVICES, 64, io.enilb.bpf.BpfObject.MapNames.REV_NAT, 64,
                        io.enilb.bpf.BpfObject.MapNames.SLOTS, 1024, io.enilb.bpf.BpfObject.MapNames.BACKENDS, 1024))) {
            NatMaps kernel = NatMaps.of(dp.maps());
            randomSequences(SEQUENCES / 5, () -> kernel, () -> {
                kernel.services().deleteAll(List.copyOf(kernel.services().entries().keySet()));
                kernel.slots().deleteAll(List.copyOf(kernel.slots().entries().keySet()));
                kernel.backends().deleteAll(List.copyOf(kernel.backends().entries().keySet()));
                kernel.revNat().deleteAll(List.copyOf(kernel.revNat().entries().keySet()));
                kernel.clusterIps().deleteAll(List.copyOf(kernel.clusterIps().entries().keySet()));
            });
        } finally {
            io.enilb.bpf.BpfObject.unpinAll(pins);
        }
    }

    private void randomSequences(int count, java.util.function.Supplier<NatMaps> maps, Runnable reset) {
        String fixed = System.getProperty("natmap.seed");
        long base = fixed != null ? Long.parseLong(fixed) : 0x5eed_0000L;
        int runs = fixed != null ? 1 : count;
        for (int i = 0; i < runs; i++) {
            long seed = base + i;
            reset.run();
            try {
                runSequence(new Random(seed), maps.get());
            } catch (AssertionError | RuntimeException e) {
                throw new AssertionError("sequence failed, reproduce with -Dnatmap.seed=" + seed + ": " + e.getMessage(), e);
            }
        }
    }

    private void runSequence(Random rnd, NatMaps maps) {
        NatMapWriter writer = new NatMapWriter(maps);
        Map<ServiceKey, NormalizedService> current = new TreeMap<>();
        for (int step = 0; step < STEPS; step++) {
            if (rnd.nextInt(20) == 0) {
                writer = restart(maps, writer, current);
                continue;
            }
            List<ServiceChange> batch = new ArrayList<>();
            int n = 1 + rnd.nextInt(3);
            for (int c = 0; c < n; c++) {
                ServiceChange change = randomChange(rnd, current);
                if (change.isDelete()) {
                    current.remove(change.key());
                } else {
                    current.put(change.key(), change.service());
                }
                batch.add(change);
            }
            writer.apply(batch);
            assertThat(writer.failures()).as("step %d", step).isEmpty();
            assertMapsMatch(maps, writer, current.values());
        }
    }

    /** A new writer on the same maps: restore, the same desired state, reconcile: nothing to do. */
    private static NatMapWriter restart(NatMaps maps, NatMapWriter before, Map<ServiceKey, NormalizedService> current) {
        Map<SvcKey, Integer> ids = new HashMap<>();
        maps.services().entries().forEach((k, v) -> ids.put(k, v.svcId()));
        NatMapWriter after = new NatMapWriter(maps);
        after.restore();
        after.apply(current.values().stream().map(s -> new ServiceChange(s.key(), s)).toList());
        assertThat(after.lastBatch()).as("writes after restart").isEqualTo(NatMapWriter.BatchSizes.NONE);
        assertThat(after.reconcile()).as("deletes after restart").isZero();
        ids.forEach((k, id) -> assertThat(after.serviceId(k)).as("id of %s", k).hasValue(id));
        assertMapsMatch(maps, after, current.values());
        return after;
    }

    private static ServiceChange randomChange(Random rnd, Map<ServiceKey, NormalizedService> current) {
        int kind = rnd.nextInt(10);
        List<NormalizedService> existing = new ArrayList<>(current.values());
        if (kind < 2 && !existing.isEmpty()) {
            return ServiceChange.deleted(existing.get(rnd.nextInt(existing.size())).key());
        }
        if (kind < 6 && !existing.isEmpty()) {
            return endpointChange(rnd, existing.get(rnd.nextInt(existing.size())));
        }
        int i = rnd.nextInt(6);
        NormalizedService s = randomService(rnd, "s" + i, "10.96.0." + (i + 1));
        return new ServiceChange(s.key(), s);
    }

    private static NormalizedService randomService(Random rnd, String name, String clusterIp) {
        List<ServicePort> ports = new ArrayList<>();
        if (rnd.nextBoolean()) {
            ports.add(tcp(80, randomBackends(rnd)));
        }
        if (rnd.nextBoolean()) {
            ports.add(tcp(443, randomBackends(rnd)));
        }
        if (ports.isEmpty() || rnd.nextBoolean()) {
            ports.add(udp(53, randomBackends(rnd)));
        }
        return svc(name, clusterIp, rnd.nextInt(3) == 0 ? 10800 : 0, ports.toArray(ServicePort[]::new));
    }

    private static Backend[] randomBackends(Random rnd) {
        Map<String, Backend> chosen = new TreeMap<>();
        int n = rnd.nextInt(7);
        for (int i = 0; i < n; i++) {
            String ip = IPS[rnd.nextInt(IPS.length)];
            int port = TARGET_PORTS[rnd.nextInt(TARGET_PORTS.length)];
            chosen.put(ip + ":" + port, rnd.nextInt(4) == 0 ? terminating(ip, port) : active(ip, port));
        }
        return sorted(chosen.values());
    }

    /** One port of the service gains, loses or flips one backend. */
    private static ServiceChange endpointChange(Random rnd, NormalizedService s) {
        List<ServicePort> ports = new ArrayList<>(s.clusterIps().get(0).ports());
        int p = rnd.nextInt(ports.size());
        ServicePort port = ports.get(p);
        List<Backend> backends = new ArrayList<>(port.backends());
        int what = rnd.nextInt(3);
        if (what == 0 || backends.isEmpty()) {
            String ip = IPS[rnd.nextInt(IPS.length)];
            int tp = TARGET_PORTS[rnd.nextInt(TARGET_PORTS.length)];
            backends.removeIf(b -> b.ip().equals(ip) && b.port() == tp);
            backends.add(active(ip, tp));
        } else if (what == 1) {
            backends.remove(rnd.nextInt(backends.size()));
        } else {
            int i = rnd.nextInt(backends.size());
            Backend b = backends.get(i);
            backends.set(i, b.state() == Backend.State.ACTIVE ? terminating(b.ip(), b.port()) : active(b.ip(), b.port()));
        }
        ports.set(p, new ServicePort(port.name(), port.protocol(), port.port(), List.of(sorted(backends))));
        NormalizedService next = new NormalizedService(s.key(), s.clusterIps().get(0).address(), ports, s.affinityTimeoutSeconds());
        return new ServiceChange(s.key(), next);
    }

    private static Backend[] sorted(java.util.Collection<Backend> backends) {
        return backends.stream().sorted(Comparator.comparing(Backend::ip).thenComparingInt(Backend::port))
                .toArray(Backend[]::new);
    }

    @Test
    void restartWithTheSameStateWritesNothingAndKeepsIds() {
        NatMaps maps = NatMaps.inMemory(16, 64);
        NatMapWriter first = new NatMapWriter(maps);
        List<NormalizedService> desired = List.of(
                svc("a", "10.96.0.1", 0, tcp(80, active("10.0.0.1", 80), terminating("10.0.0.2", 80)),
                        udp(53, terminating("10.0.0.2", 80), active("10.0.0.3", 53))),
                svc("b", "10.96.0.2", 60, tcp(443, active("10.0.0.4", 8443), active("10.0.0.5", 8443))));
        first.apply(upsert(desired.toArray(NormalizedService[]::new)));
        Map<Integer, ?> backendsBefore = maps.backends().entries();
        Map<SvcKey, ?> servicesBefore = maps.services().entries();

        NatMapWriter second = new NatMapWriter(maps);
        second.restore();
        second.apply(upsert(desired.toArray(NormalizedService[]::new)));
        assertThat(second.lastBatch()).isEqualTo(NatMapWriter.BatchSizes.NONE);
        assertThat(second.reconcile()).isZero();
        assertThat(second.lastBatch()).isEqualTo(NatMapWriter.BatchSizes.NONE);
        assertThat(maps.backends().entries()).isEqualTo(backendsBefore);
        assertThat(maps.services().entries()).isEqualTo(servicesBefore);
        SvcKey fa = Fixtures.frontend("10.96.0.1", 80, Protocol.TCP);
        assertThat(second.serviceId(fa)).isEqualTo(first.serviceId(fa));
        assertThat(second.backendId(fa, io.enilb.bpf.Ipv4.parse("10.0.0.1"), 80))
                .isEqualTo(first.backendId(fa, io.enilb.bpf.Ipv4.parse("10.0.0.1"), 80));
        assertThat(second.frontendsProgrammed()).isEqualTo(3);
        assertMapsMatch(maps, second, desired);
    }
}
