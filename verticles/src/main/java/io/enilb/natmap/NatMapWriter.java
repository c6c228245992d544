package io.enilb.natmap;

import io.enilb.bpf.KeyValueMap;
import io.enilb.bpf.Structs.BackendEntry;
import io.enilb.bpf.Structs.RevNatValue;
import io.enilb.bpf.Structs.SvcKey;
import io.enilb.bpf.Structs.SvcValue;
import io.enilb.model.ServiceChange;
import io.enilb.natmap.DesiredServices.DesiredBackend;
import io.enilb.natmap.DesiredServices.Frontend;
import io.enilb.natmap.WritePhases.Step;
import java.util.ArrayList;
import java.util.Collection;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the nat maps equal to the desired Services: one frontend per Service port, its ACTIVE
 * backends in slots 0..n-1 in the order the model gives them, TERMINATING backends written
 * flagged and without a slot, reverse NAT per service id.
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
 * {@link #reconcile()} deletes whatever no desired frontend owns. Not thread-safe by design beyond
 * method-level locking: one caller (a worker) drives it.
 */
public final class NatMapWriter {
    private static final Logger log = LoggerFactory.getLogger(NatMapWriter.class);
    /** Backend ids are keys of a hash map, not array indexes: the whole u32 space but 0. */
    private static final long MAX_BACKEND_ID = 0xFFFF_FFFFL;

    /** A backend of one frontend: ids are per frontend, so per-backend state is per frontend. */
    public record BackendRef(SvcKey frontend, int addr, int port) {
    }

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

    private final NatMaps maps;
    private final DesiredServices desired = new DesiredServices();
    private final IdAllocator<SvcKey> serviceIds;
    private final IdAllocator<BackendRef> backendIds;
    private final WritePhases phases;
    private final Map<SvcKey, WrittenFrontend> written = new HashMap<>();
    private final Map<SvcKey, String> failures = new LinkedHashMap<>();
    private BatchSizes lastBatch = BatchSizes.NONE;

    public NatMapWriter(NatMaps maps) {
        this.maps = maps;
        // id 0 is never handed out: it means "no service" to readers of the counters, and the
        // counters array has max-services entries, so the highest service id is one below
        this.serviceIds = new IdAllocator<>(1, maps.maxServices() - 1);
        this.backendIds = new IdAllocator<>(1, MAX_BACKEND_ID);
        this.phases = new WritePhases(maps, id -> {
            BackendRef owner = backendIds.ownerOf(id);
            if (owner != null) {
                backendIds.release(owner);
            }
        });
    }

    /**
     * Adopts what the maps already hold: frontends and their service ids, slots, reverse NAT,
     * and the backends of each frontend (by the service id in the entry). Ids of entries no
     * frontend owns are reserved until {@link #reconcile} deletes those entries. Call once,
     * before the first {@link #apply}.
     */
    public synchronized void restore() {
        Map<Integer, SvcKey> byId = new HashMap<>();
        maps.services().entries().forEach((fk, v) -> {
            if (serviceIds.adopt(fk, v.svcId())) {
                WrittenFrontend w = new WrittenFrontend(v.svcId());
                w.service = v;
                written.put(fk, w);
                byId.put(v.svcId(), fk);
            } else {
                log.warn("frontend {}: service id {} out of range or taken; reconcile will remove it", fk, v.svcId());
            }
        });
        maps.slots().entries().forEach((k, v) -> {
            SvcKey fk = byId.get(k.svcId());
            if (fk != null) {
                written.get(fk).slots.put(k.slot(), v.backendId());
            } else {
                serviceIds.reserve(k.svcId());
            }
        });
        maps.revNat().entries().forEach((id, v) -> {
            SvcKey fk = byId.get(id);
            if (fk != null) {
                written.get(fk).revNat = v;
            } else {
                serviceIds.reserve(id);
            }
        });
        // a backend entry names its frontend's service id (ABI v2): terminating backends, which
        // no slot names, are adopted as well as active ones
        maps.backends().entries().forEach((id, e) -> {
            SvcKey fk = byId.get(e.svcId());
            if (fk != null && backendIds.adopt(new BackendRef(fk, e.addr(), e.port()), id)) {
                written.get(fk).backends.put(id, e);
            } else {
                backendIds.reserve(id);
            }
        });
        log.info("restored {} frontends and {} backends from the maps", written.size(), backendIds.size());
    }

    /**
     * Applies Service changes (the last change of a Service wins) and writes the difference.
     * Never throws: what could not be written is in {@link #failures()}.
     */
    public synchronized void apply(List<ServiceChange> changes) {
        Set<SvcKey> dirty = new LinkedHashSet<>(failures.keySet());
        dirty.addAll(desired.apply(changes));
        syncSafely(dirty);
    }

    /**
     * After the first full sync: rewrites every frontend's difference and deletes every entry
     * of the maps that no desired frontend owns. Returns how many entries were deleted (those of
     * frontends no longer desired and those nobody owns).
     */
    public synchronized int reconcile() {
        Set<SvcKey> all = new LinkedHashSet<>(written.keySet());
        all.addAll(desired.frontends());
        syncSafely(all);
        Map<Step, Integer> counts = new EnumMap<>(Step.class);
        counts.putAll(lastBatch.counts());
        int services = deleteUnowned(maps.services(), fk -> {
            WrittenFrontend w = written.get(fk);
            return w != null && w.service != null;
        });
        int slots = deleteUnowned(maps.slots(), k -> {
            WrittenFrontend w = writtenOfService(k.svcId());
            return w != null && w.slots.containsKey(k.slot());
        });
        int backends = deleteUnowned(maps.backends(), id -> {
            BackendRef owner = backendIds.ownerOf(id);
            WrittenFrontend w = owner == null ? null : written.get(owner.frontend());
            return w != null && w.backends.containsKey(id);
        });
        int revNat = deleteUnowned(maps.revNat(), id -> {
            WrittenFrontend w = writtenOfService(id);
            return w != null && w.revNat != null;
        });
        serviceIds.releaseReserved();
        backendIds.releaseReserved();
        counts.merge(Step.SERVICE_DELETES, services, Integer::sum);
        counts.merge(Step.SLOT_DELETES, slots, Integer::sum);
        counts.merge(Step.BACKEND_DELETES, backends, Integer::sum);
        counts.merge(Step.REVNAT_DELETES, revNat, Integer::sum);
        lastBatch = new BatchSizes(counts);
        int stray = services + slots + backends + revNat;
        if (stray > 0) {
            log.info("reconcile deleted {} entries no service owns ({} frontends, {} slots, {} backends, {} reverse NAT)",
                    stray, services, slots, backends, revNat);
        }
        return lastBatch.deletes();
    }

    /** Frontends that could not be (fully) programmed, and why; retried on the next apply. */
    public synchronized Map<SvcKey, String> failures() {
        return Map.copyOf(failures);
    }

    /** Frontends whose service entry is in the map and that did not fail. */
    public synchronized int frontendsProgrammed() {
        return (int) written.entrySet().stream()
                .filter(e -> e.getValue().service != null && !failures.containsKey(e.getKey())).count();
    }

    /** Backend entries this writer has in the map. */
    public synchronized int backendsProgrammed() {
        return written.values().stream().mapToInt(w -> w.backends.size()).sum();
    }

    public synchronized BatchSizes lastBatch() {
        return lastBatch;
    }

    public synchronized OptionalInt serviceId(SvcKey frontend) {
        return serviceIds.idOf(frontend);
    }

    public synchronized OptionalInt backendId(SvcKey frontend, int addr, int port) {
        return backendIds.idOf(new BackendRef(frontend, addr, port));
    }

    // --- sync ---

    private void syncSafely(Collection<SvcKey> dirty) {
        try {
            sync(dirty);
        } catch (RuntimeException e) {
            // A bug, not a map error (those are handled per frontend): keep the daemon up and retry.
            log.error("nat-map sync of {} frontends failed; retrying them on the next apply", dirty.size(), e);
            for (SvcKey fk : dirty) {
                failures.putIfAbsent(fk, "internal error: " + e);
            }
        }
    }

    private void sync(Collection<SvcKey> dirty) {
        Map<SvcKey, String> failed = new LinkedHashMap<>();
        List<FrontendPlan> plans = new ArrayList<>();
        for (SvcKey fk : dirty) {
            failures.remove(fk);
            Frontend frontend = desired.get(fk);
            if (frontend == null) {
                if (written.containsKey(fk)) {
                    plans.add(FrontendPlan.removal(fk));
                }
                continue;
            }
            FrontendPlan plan = plan(fk, frontend, failed);
            if (plan != null) {
                plans.add(plan);
            }
        }
        lastBatch = new BatchSizes(phases.run(plans, written::get, failed));
        for (FrontendPlan p : plans) {
            WrittenFrontend w = written.get(p.frontend());
            if (failed.containsKey(p.frontend())) {
                // Ids taken this round but not in the maps go back, so that the allocator only
                // holds what is written; a frontend with nothing written loses its service id.
                for (BackendRef ref : p.fresh()) {
                    OptionalInt id = backendIds.idOf(ref);
                    if (id.isPresent() && !w.backends.containsKey(id.getAsInt())) {
                        backendIds.release(ref);
                    }
                }
            }
            if (w.isEmpty() && (p.isRemoval() || failed.containsKey(p.frontend()))) {
                written.remove(p.frontend());
                serviceIds.release(p.frontend());
            }
        }
        for (Map.Entry<SvcKey, String> f : failed.entrySet()) {
            // a removal that failed is retried as long as something of it is written
            if (desired.get(f.getKey()) != null || written.containsKey(f.getKey())) {
                failures.put(f.getKey(), f.getValue());
                log.warn("frontend {}: not programmed: {}", f.getKey(), f.getValue());
            }
        }
    }

    /** The desired entries of a frontend, allocating ids; null (and a failure) when that fails. */
    private FrontendPlan plan(SvcKey fk, Frontend frontend, Map<SvcKey, String> failed) {
        WrittenFrontend w = written.get(fk);
        if (w == null) {
            w = newFrontend(fk, failed);
            if (w == null) {
                return null;
            }
        }
        Map<Integer, Integer> slots = new HashMap<>();
        Map<Integer, BackendEntry> backends = new HashMap<>();
        List<BackendRef> fresh = new ArrayList<>();
        for (DesiredBackend b : frontend.backends()) {
            BackendRef ref = new BackendRef(fk, b.addr(), b.port());
            OptionalInt id = backendIds.idOf(ref);
            if (id.isEmpty()) {
                id = backendIds.acquire(ref);
                if (id.isEmpty()) {
                    fresh.forEach(backendIds::release);
                    if (w.isEmpty()) {
                        written.remove(fk);
                        serviceIds.release(fk);
                    }
                    failed.put(fk, "no free backend id");
                    return null;
                }
                fresh.add(ref);
            }
            backends.put(id.getAsInt(), backendEntry(b, w.svcId));
            if (!b.terminating()) {
                slots.put(slots.size(), id.getAsInt());
            }
        }
        return new FrontendPlan(fk, new SvcValue(w.svcId, slots.size(), frontend.affinityTimeout(), 0),
                new RevNatValue(frontend.addr(), frontend.port()), slots, backends, fresh);
    }

    /**
     * A frontend not in the maps gets the next service id, and that id's counters are zeroed
     * before anything names it: a recycled id must not inherit another Service's traffic.
     */
    private WrittenFrontend newFrontend(SvcKey fk, Map<SvcKey, String> failed) {
        OptionalInt svcId = serviceIds.acquire(fk);
        if (svcId.isEmpty()) {
            failed.put(fk, "no free service id (" + (maps.maxServices() - 1) + " in use)");
            return null;
        }
        try {
            maps.counters().reset(svcId.getAsInt());
        } catch (RuntimeException e) {
            serviceIds.release(fk);
            failed.put(fk, "cannot zero the counters of service id " + svcId.getAsInt() + ": " + e.getMessage());
            return null;
        }
        WrittenFrontend w = new WrittenFrontend(svcId.getAsInt());
        written.put(fk, w);
        return w;
    }

    /**
     * The backend entry of a desired backend of the frontend with service id {@code svcId}: the
     * entry names its frontend, so that the datapath can tell a conntrack or affinity entry whose
     * backend id now belongs to another Service (ABI v2).
     */
    private static BackendEntry backendEntry(DesiredBackend b, int svcId) {
        return new BackendEntry(b.addr(), b.port(), b.terminating() ? BackendEntry.TERMINATING : 0, svcId);
    }

    private <K> int deleteUnowned(KeyValueMap<K, ?> map, Predicate<K> owned) {
        List<K> stray = new ArrayList<>();
        for (K key : map.entries().keySet()) {
            if (!owned.test(key)) {
                stray.add(key);
            }
        }
        if (stray.isEmpty()) {
            return 0;
        }
        try {
            return map.deleteAll(stray);
        } catch (RuntimeException e) {
            log.warn("reconcile of {}: {}", map.name(), e.getMessage());
            return 0;
        }
    }

    private WrittenFrontend writtenOfService(int svcId) {
        SvcKey fk = serviceIds.ownerOf(svcId);
        return fk == null ? null : written.get(fk);
    }
}
