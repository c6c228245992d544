package io.enilb.natmap;

import io.enilb.model.IpFamily;
import io.enilb.model.ServiceChange;
import io.enilb.natmap.WritePhases.Step;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the nat maps equal to the desired Services: one frontend per Service port, its ACTIVE
 * backends in slots 0..n-1 in the order the model gives them, TERMINATING backends written
 * flagged and without a slot, reverse NAT per service id.
 *
 * <p>Each address family is programmed into its own maps by a {@link FamilyWriter} over the
 * same phase table ({@link NatFamily}: a dual-stack Service is one frontend set per family, as
 * kube-proxy treats it); the families share one service id space (one counters array) and one
 * backend id space.
 *
 * <p>Three parts, as Cilium's load-balancer reconciler splits them: the desired state
 * ({@link DesiredServices}), the ids ({@link IdAllocator}s, rolling, so that a freed id is not
 * handed to another Service while conntrack or affinity entries may still name it) and the BPF
 * operations ({@link WritePhases}, one table run make-before-break). This class plans each dirty
 * frontend against what is written ({@link WrittenFrontend}) and hands the plans to the phases.
 * A frontend whose writes fail (E2BIG: a map is full, or no free id) is reported in
 * {@link #failures()}, keeps what it had, and is retried on the next apply; other frontends are
 * unaffected.
 *
 * <p>At start {@link #restore()} adopts the ids already in the maps so that a restart does not
 * renumber, and new ids continue after the highest found; after the first full sync
 * {@link #reconcile()} deletes whatever no desired frontend owns. An apply costs the frontends of
 * the Services it is given, not the maps. Not thread-safe by design beyond
 * method-level locking: one caller (a worker) drives it.
 */
public final class NatMapWriter {
    private static final Logger log = LoggerFactory.getLogger(NatMapWriter.class);
    /** Backend ids are keys of a hash map, not array indexes: the whole u32 space but 0. */
    private static final long MAX_BACKEND_ID = 0xFFFF_FFFFL;

    /** How many entries the last {@link #apply} or {@link #reconcile} wrote or deleted, per phase. */
    public record BatchSizes(Map<Step, Integer> counts) {
        public static final BatchSizes NONE = new BatchSizes(Map.of());

        public BatchSizes {
            Map<Step, Integer> nonZero = new EnumMap<>(Step.class);
            counts.forEach((step, n) -> {
                if (n != 0) {
                    nonZero.put(step, n);
                }
            });
            counts = Map.copyOf(nonZero);
        }

        public int count(Step step) {
            return counts.getOrDefault(step, 0);
        }

        public int writes() {
            return sum(WritePhases.Kind.WRITE);
        }

        public int deletes() {
            return sum(WritePhases.Kind.DELETE);
        }

        private int sum(WritePhases.Kind kind) {
            return counts.entrySet().stream().filter(e -> e.getKey().kind == kind).mapToInt(Map.Entry::getValue).sum();
        }
    }

    private final IdAllocator<Object> serviceIds;
    private final IdPool<Object> backendIds;
    /** One writer per family, IPv4 first. */
    private final List<FamilyWriter<?, ?, ?, ?, ?>> families;
    private BatchSizes lastBatch = BatchSizes.NONE;

    public NatMapWriter(NatMaps maps) {
        // id 0 is never handed out: it means "no service" to readers of the counters, and the
        // counters array has max-services entries, so the highest service id is one below
        this.serviceIds = new IdAllocator<>(1, maps.maxServices() - 1);
        this.backendIds = new IdPool<>(1, MAX_BACKEND_ID);
        this.families = List.of(
                new FamilyWriter<>(maps.ipv4(), maps.counters(), serviceIds, backendIds),
                new FamilyWriter<>(maps.ipv6(), maps.counters(), serviceIds, backendIds));
    }

    /**
     * Adopts what the maps already hold: frontends and their service ids, slots, reverse NAT,
     * and the backends of each frontend (by the service id in the entry), in every family. Ids
     * of entries no frontend owns are reserved until {@link #reconcile} deletes those entries.
     * Call once, before the first {@link #apply}.
     */
    public synchronized void restore() {
        families.forEach(FamilyWriter::restore);
        log.info("restored {} frontends and {} backends from the maps", frontendsProgrammed(), backendIds.size());
    }

    /**
     * Applies Service changes (the last change of a Service wins) and writes the difference.
     * Never throws: what could not be written is in {@link #failures()}. Returns the frontends
     * (SvcKey, SvcKey6) whose state it looked at: every frontend of the changed Services, before
     * and after the change, and the failed ones it retried.
     */
    public synchronized Set<Object> apply(List<ServiceChange> changes) {
        Map<Step, Integer> counts = new EnumMap<>(Step.class);
        Set<Object> touched = new LinkedHashSet<>();
        for (FamilyWriter<?, ?, ?, ?, ?> family : families) {
            touched.addAll(family.apply(changes));
            family.lastBatch().forEach((step, n) -> counts.merge(step, n, Integer::sum));
        }
        lastBatch = new BatchSizes(counts);
        return touched;
    }

    /**
     * After the first full sync: removes the restored frontends no Service wants, retries the
     * failed ones, and deletes the entries {@link #restore()} found that no frontend owns. Reads
     * no map: every desired frontend was written when its Service arrived. Returns how many
     * entries were deleted (those of frontends no longer desired and those nobody owns).
     */
    public synchronized int reconcile() {
        Map<Step, Integer> counts = new EnumMap<>(Step.class);
        for (FamilyWriter<?, ?, ?, ?, ?> family : families) {
            family.reconcile().forEach((step, n) -> counts.merge(step, n, Integer::sum));
        }
        // only once every family's strays are gone: a reserved id may name entries of either
        serviceIds.releaseReserved();
        backendIds.releaseReserved();
        lastBatch = new BatchSizes(counts);
        return lastBatch.deletes();
    }

    /**
     * Frontends (the family's frontend key: SvcKey, SvcKey6) that could not be (fully)
     * programmed, and why; retried on the next apply.
     */
    public synchronized Map<Object, String> failures() {
        Map<Object, String> all = new LinkedHashMap<>();
        families.forEach(f -> all.putAll(f.failures()));
        return Map.copyOf(all);
    }

    /** Frontends whose service entry is in the map and that did not fail. */
    public synchronized int frontendsProgrammed() {
        return families.stream().mapToInt(FamilyWriter::frontendsProgrammed).sum();
    }

    /** Backend entries this writer has in the maps. */
    public synchronized int backendsProgrammed() {
        return families.stream().mapToInt(FamilyWriter::backendsProgrammed).sum();
    }

    public synchronized BatchSizes lastBatch() {
        return lastBatch;
    }

    /** The service id of a frontend (SvcKey or SvcKey6). */
    public synchronized OptionalInt serviceId(Object frontend) {
        return serviceIds.idOf(frontend);
    }

    /** The backend id of {@code addr:port} (the family's address: Ipv4 int, Ipv6) of a frontend. */
    public synchronized OptionalInt backendId(Object frontend, Object addr, int port) {
        for (FamilyWriter<?, ?, ?, ?, ?> family : families) {
            OptionalInt id = family.backendId(frontend, addr, port);
            if (id.isPresent()) {
                return id;
            }
        }
        return OptionalInt.empty();
    }

    /**
     * The frontend key (SvcKey, SvcKey6) of {@code clusterIp} (canonical text) port/protocol; for
     * tests (nat-map learns the frontends a batch touched from {@link #apply}).
     */
    Object frontendKey(String clusterIp, int port, int proto) {
        IpFamily family = IpFamily.of(clusterIp);
        for (FamilyWriter<?, ?, ?, ?, ?> writer : families) {
            if (writer.maps().family() == family) {
                return frontendKey(writer.maps(), clusterIp, port, proto);
            }
        }
        throw new IllegalArgumentException("no " + family.kubernetesName + " maps for " + clusterIp);
    }

    private static <K, A> Object frontendKey(NatFamily<K, A, ?, ?, ?> family, String clusterIp, int port, int proto) {
        return family.layout().frontend().make(family.layout().parse().apply(clusterIp), port, proto);
    }
}
