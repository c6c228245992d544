package io.enilb.natmap;

import io.enilb.bpf.BpfException;
import io.enilb.bpf.Ipv4;
import io.enilb.bpf.KeyValueMap;
import io.enilb.bpf.KeyValueMap.BatchException;
import io.enilb.bpf.Structs.BackendEntry;
import io.enilb.bpf.Structs.RevNatValue;
import io.enilb.bpf.Structs.SlotKey;
import io.enilb.bpf.Structs.SlotValue;
import io.enilb.bpf.Structs.SvcKey;
import io.enilb.bpf.Structs.SvcValue;
import io.enilb.model.Backend;
import io.enilb.model.NormalizedService;
import io.enilb.model.ServiceChange;
import io.enilb.model.ServiceKey;
import io.enilb.model.ServicePort;
import java.util.AbstractMap.SimpleImmutableEntry;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the nat maps equal to the desired Services: one frontend per Service port, its ACTIVE
 * backends in slots 0..n-1 in the order the model gives them, TERMINATING backends written
 * flagged and without a slot, reverse NAT per service id.
 *
 * <p>Each {@link #apply} writes only the difference to what this writer knows is in the maps,
 * make-before-break: backends, then slots, then reverse NAT, then the service entries, and
 * only then the deletions (service entries, slots at or beyond the new active count, backends,
 * reverse NAT). A frontend whose writes fail (E2BIG: a map is full, or no free id) is reported
 * in {@link #failures()}, keeps what it had, and is retried on the next apply; other frontends
 * are unaffected.
 *
 * <p>At start {@link #restore()} adopts the ids already in the maps so that a restart does not
 * renumber; after the first full sync {@link #reconcile()} deletes whatever no desired frontend
 * owns. Not thread-safe by design beyond method-level locking: one caller (a worker) drives it.
 */
public final class NatMapWriter {
    private static final Logger log = LoggerFactory.getLogger(NatMapWriter.class);
    private static final int E2BIG = 7;

    /** A backend of one frontend: ids are per frontend, so per-backend state is per frontend. */
    public record BackendRef(SvcKey frontend, int addr, int port) {
    }

    /** How many entries the last {@link #apply} or {@link #reconcile} wrote and deleted, per map. */
    public record BatchSizes(int backendWrites, int slotWrites, int revNatWrites, int serviceWrites,
                             int serviceDeletes, int slotDeletes, int backendDeletes, int revNatDeletes) {
        public static final BatchSizes NONE = new BatchSizes(0, 0, 0, 0, 0, 0, 0, 0);

        public int writes() {
            return backendWrites + slotWrites + revNatWrites + serviceWrites;
        }

        public int deletes() {
            return serviceDeletes + slotDeletes + backendDeletes + revNatDeletes;
        }
    }

    private record BackendSpec(int addr, int port, boolean terminating) {
    }

    /** One desired frontend, parsed. */
    private record Spec(int addr, int port, List<BackendSpec> backends, int affinityTimeout) {
    }

    /** The desired entries of one frontend; {@code service == null} means remove the frontend. */
    private record Plan(SvcKey frontend, SvcValue service, RevNatValue revNat, Map<Integer, Integer> slots,
                        Map<Integer, BackendEntry> backends, List<BackendRef> fresh) {
        boolean removal() {
            return service == null;
        }
    }

    /** What is in the maps for one frontend, entry by entry. */
    private static final class Written {
        final int svcId;
        SvcValue service;
        RevNatValue revNat;
        final Map<Integer, Integer> slots = new HashMap<>();
        final Map<Integer, BackendEntry> backends = new HashMap<>();

        Written(int svcId) {
            this.svcId = svcId;
        }

        boolean isEmpty() {
            return service == null && revNat == null && slots.isEmpty() && backends.isEmpty();
        }
    }

    private record Op<K, V>(SvcKey frontend, K key, V value, Runnable onDone) {
    }

    private final NatMaps maps;
    private final IdAllocator<SvcKey> serviceIds;
    private final IdAllocator<BackendRef> backendIds;
    private final Map<ServiceKey, NormalizedService> services = new HashMap<>();
    /** Frontend -> the services claiming it; the first (by key) wins, a conflict is logged. */
    private final Map<SvcKey, TreeMap<ServiceKey, Spec>> claims = new HashMap<>();
    private final Map<SvcKey, Written> written = new HashMap<>();
    private final Map<SvcKey, String> failures = new LinkedHashMap<>();
    /** Backend entries found by restore that no slot names (terminating ones): addr:port -> ids. */
    private final Map<Long, TreeSet<Integer>> orphanBackends = new HashMap<>();
    private final Map<Integer, BackendEntry> orphanEntries = new HashMap<>();
    private BatchSizes lastBatch = BatchSizes.NONE;

    public NatMapWriter(NatMaps maps) {
        this.maps = maps;
        // id 0 is never handed out: it means "no service" to readers of the counters
        this.serviceIds = new IdAllocator<>(1, maps.maxServices());
        this.backendIds = new IdAllocator<>(1, maps.maxBackends());
    }

    /**
     * Adopts what the maps already hold: frontends and their service ids, slots, reverse NAT,
     * and the backends the slots name. Backend entries no slot names (terminating backends) are
     * kept aside and adopted by the first desired backend of the same address and port. Call
     * once, before the first {@link #apply}.
     */
    public synchronized void restore() {
        Map<Integer, SvcKey> byId = new HashMap<>();
        maps.services().entries().forEach((fk, v) -> {
            if (serviceIds.adopt(fk, v.svcId())) {
                Written w = new Written(v.svcId());
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
        Map<Integer, BackendEntry> backends = maps.backends().entries();
        written.forEach((fk, w) -> w.slots.values().forEach(id -> {
            BackendEntry e = backends.get(id);
            if (e != null && backendIds.adopt(new BackendRef(fk, e.addr(), e.port()), id)) {
                w.backends.put(id, e);
            }
        }));
        backends.forEach((id, e) -> {
            if (backendIds.ownerOf(id) == null && backendIds.reserve(id)) {
                orphanBackends.computeIfAbsent(addrPort(e.addr(), e.port()), x -> new TreeSet<>()).add(id);
                orphanEntries.put(id, e);
            }
        });
        log.info("restored {} frontends and {} backends from the maps, {} backends not named by a slot",
                written.size(), backendIds.size(), orphanEntries.size());
    }

    /**
     * Applies Service changes (the last change of a Service wins) and writes the difference.
     * Never throws: what could not be written is in {@link #failures()}.
     */
    public synchronized void apply(List<ServiceChange> changes) {
        Set<SvcKey> dirty = new LinkedHashSet<>(failures.keySet());
        for (ServiceChange change : changes) {
            ServiceKey key = change.key();
            NormalizedService next = change.service();
            Map<SvcKey, Spec> nextSpecs = Map.of();
            if (next != null) {
                try {
                    nextSpecs = specs(next);
                } catch (IllegalArgumentException e) {
                    log.warn("service {}: {}; keeping what is programmed", key, e.getMessage());
                    continue;
                }
            }
            NormalizedService previous = next == null ? services.remove(key) : services.put(key, next);
            if (previous != null) {
                for (SvcKey fk : specs(previous).keySet()) {
                    TreeMap<ServiceKey, Spec> claimants = claims.get(fk);
                    if (claimants != null) {
                        claimants.remove(key);
                        if (claimants.isEmpty()) {
                            claims.remove(fk);
                        }
                    }
                    dirty.add(fk);
                }
            }
            nextSpecs.forEach((fk, spec) -> {
                TreeMap<ServiceKey, Spec> claimants = claims.computeIfAbsent(fk, x -> new TreeMap<>());
                claimants.put(key, spec);
                if (claimants.size() > 1) {
                    log.warn("frontend {} claimed by {}; programming it for {}", fk, claimants.keySet(),
                            claimants.firstKey());
                }
                dirty.add(fk);
            });
        }
        syncSafely(dirty);
    }

    /**
     * After the first full sync: rewrites every frontend's difference and deletes every entry
     * of the maps that no desired frontend owns. Returns how many entries were deleted (those of
     * frontends no longer desired and those nobody owns).
     */
    public synchronized int reconcile() {
        Set<SvcKey> all = new LinkedHashSet<>(written.keySet());
        all.addAll(claims.keySet());
        syncSafely(all);
        BatchSizes synced = lastBatch;
        int services = deleteUnowned(maps.services(), fk -> {
            Written w = written.get(fk);
            return w != null && w.service != null;
        });
        int slots = deleteUnowned(maps.slots(), k -> {
            Written w = writtenOfService(k.svcId());
            return w != null && w.slots.containsKey(k.slot());
        });
        int backends = deleteUnowned(maps.backends(), id -> {
            BackendRef owner = backendIds.ownerOf(id);
            Written w = owner == null ? null : written.get(owner.frontend());
            return w != null && w.backends.containsKey(id);
        });
        int revNat = deleteUnowned(maps.revNat(), id -> {
            Written w = writtenOfService(id);
            return w != null && w.revNat != null;
        });
        orphanBackends.clear();
        orphanEntries.clear();
        serviceIds.releaseReserved();
        backendIds.releaseReserved();
        lastBatch = new BatchSizes(synced.backendWrites(), synced.slotWrites(), synced.revNatWrites(),
                synced.serviceWrites(), synced.serviceDeletes() + services, synced.slotDeletes() + slots,
                synced.backendDeletes() + backends, synced.revNatDeletes() + revNat);
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
        List<Plan> plans = new ArrayList<>();
        for (SvcKey fk : dirty) {
            failures.remove(fk);
            TreeMap<ServiceKey, Spec> claimants = claims.get(fk);
            if (claimants == null) {
                if (written.containsKey(fk)) {
                    plans.add(new Plan(fk, null, null, Map.of(), Map.of(), List.of()));
                }
                continue;
            }
            Plan plan = plan(fk, claimants.firstEntry().getValue(), failed);
            if (plan != null) {
                plans.add(plan);
            }
        }

        List<Op<Integer, BackendEntry>> backendWrites = new ArrayList<>();
        for (Plan p : plans) {
            Written w = written.get(p.frontend());
            p.backends().forEach((id, e) -> {
                if (!e.equals(w.backends.get(id))) {
                    backendWrites.add(new Op<>(p.frontend(), id, e, () -> w.backends.put(id, e)));
                }
            });
        }
        int nBackends = write(maps.backends(), backendWrites, failed);

        List<Op<SlotKey, SlotValue>> slotWrites = new ArrayList<>();
        for (Plan p : live(plans, failed)) {
            Written w = written.get(p.frontend());
            p.slots().forEach((slot, id) -> {
                if (!id.equals(w.slots.get(slot))) {
                    slotWrites.add(new Op<>(p.frontend(), new SlotKey(w.svcId, slot), new SlotValue(id),
                            () -> w.slots.put(slot, id)));
                }
            });
        }
        int nSlots = write(maps.slots(), slotWrites, failed);

        List<Op<Integer, RevNatValue>> revNatWrites = new ArrayList<>();
        for (Plan p : live(plans, failed)) {
            Written w = written.get(p.frontend());
            if (!p.removal() && !p.revNat().equals(w.revNat)) {
                revNatWrites.add(new Op<>(p.frontend(), w.svcId, p.revNat(), () -> w.revNat = p.revNat()));
            }
        }
        int nRevNat = write(maps.revNat(), revNatWrites, failed);

        List<Op<SvcKey, SvcValue>> serviceWrites = new ArrayList<>();
        for (Plan p : live(plans, failed)) {
            Written w = written.get(p.frontend());
            if (!p.removal() && !p.service().equals(w.service)) {
                serviceWrites.add(new Op<>(p.frontend(), p.frontend(), p.service(), () -> w.service = p.service()));
            }
        }
        int nServices = write(maps.services(), serviceWrites, failed);

        // Deletions, after everything that replaces them is in place: a removed frontend first
        // stops taking new flows (service entry), then loses its slots, backends and reverse NAT.
        List<Op<SvcKey, Void>> serviceDeletes = new ArrayList<>();
        for (Plan p : live(plans, failed)) {
            Written w = written.get(p.frontend());
            if (p.removal() && w.service != null) {
                serviceDeletes.add(new Op<>(p.frontend(), p.frontend(), null, () -> w.service = null));
            }
        }
        int dServices = delete(maps.services(), serviceDeletes, failed);

        List<Op<SlotKey, Void>> slotDeletes = new ArrayList<>();
        for (Plan p : live(plans, failed)) {
            Written w = written.get(p.frontend());
            for (Integer slot : new ArrayList<>(w.slots.keySet())) {
                if (!p.slots().containsKey(slot)) {
                    slotDeletes.add(new Op<>(p.frontend(), new SlotKey(w.svcId, slot), null, () -> w.slots.remove(slot)));
                }
            }
        }
        int dSlots = delete(maps.slots(), slotDeletes, failed);

        List<Op<Integer, Void>> backendDeletes = new ArrayList<>();
        for (Plan p : live(plans, failed)) {
            Written w = written.get(p.frontend());
            for (Integer id : new ArrayList<>(w.backends.keySet())) {
                if (!p.backends().containsKey(id)) {
                    backendDeletes.add(new Op<>(p.frontend(), id, null, () -> {
                        w.backends.remove(id);
                        BackendRef owner = backendIds.ownerOf(id);
                        if (owner != null) {
                            backendIds.release(owner);
                        }
                    }));
                }
            }
        }
        int dBackends = delete(maps.backends(), backendDeletes, failed);

        List<Op<Integer, Void>> revNatDeletes = new ArrayList<>();
        for (Plan p : live(plans, failed)) {
            Written w = written.get(p.frontend());
            if (p.removal() && w.revNat != null) {
                revNatDeletes.add(new Op<>(p.frontend(), w.svcId, null, () -> w.revNat = null));
            }
        }
        int dRevNat = delete(maps.revNat(), revNatDeletes, failed);

        for (Plan p : plans) {
            Written w = written.get(p.frontend());
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
            if (w.isEmpty() && (p.removal() || failed.containsKey(p.frontend()))) {
                written.remove(p.frontend());
                serviceIds.release(p.frontend());
            }
        }
        for (Map.Entry<SvcKey, String> f : failed.entrySet()) {
            // a removal that failed is retried as long as something of it is written
            if (claims.containsKey(f.getKey()) || written.containsKey(f.getKey())) {
                failures.put(f.getKey(), f.getValue());
                log.warn("frontend {}: not programmed: {}", f.getKey(), f.getValue());
            }
        }
        lastBatch = new BatchSizes(nBackends, nSlots, nRevNat, nServices, dServices, dSlots, dBackends, dRevNat);
    }

    /** The desired entries of a frontend, allocating ids; null (and a failure) when ids ran out. */
    private Plan plan(SvcKey fk, Spec spec, Map<SvcKey, String> failed) {
        OptionalInt svcId = serviceIds.acquire(fk);
        if (svcId.isEmpty()) {
            failed.put(fk, "no free service id (" + maps.maxServices() + " in use)");
            return null;
        }
        Written w = written.computeIfAbsent(fk, x -> new Written(svcId.getAsInt()));
        Map<Integer, Integer> slots = new HashMap<>();
        Map<Integer, BackendEntry> backends = new HashMap<>();
        List<BackendRef> fresh = new ArrayList<>();
        for (BackendSpec b : spec.backends()) {
            BackendRef ref = new BackendRef(fk, b.addr(), b.port());
            OptionalInt id = backendIds.idOf(ref);
            if (id.isEmpty()) {
                id = adoptOrphan(ref, w);
            }
            if (id.isEmpty()) {
                id = backendIds.acquire(ref);
                if (id.isEmpty()) {
                    fresh.forEach(backendIds::release);
                    if (w.isEmpty()) {
                        written.remove(fk);
                        serviceIds.release(fk);
                    }
                    failed.put(fk, "no free backend id (" + maps.maxBackends() + " in use)");
                    return null;
                }
                fresh.add(ref);
            }
            backends.put(id.getAsInt(), new BackendEntry(b.addr(), b.port(), b.terminating() ? BackendEntry.TERMINATING : 0,
                    w.svcId));
            if (!b.terminating()) {
                slots.put(slots.size(), id.getAsInt());
            }
        }
        return new Plan(fk, new SvcValue(w.svcId, slots.size(), spec.affinityTimeout(), 0),
                new RevNatValue(spec.addr(), spec.port()), slots, backends, fresh);
    }

    /**
     * Takes over a backend entry restore found without a slot, of the same address and port and
     * of this frontend's service id (the entry names it: an id is never moved to another frontend).
     */
    private OptionalInt adoptOrphan(BackendRef ref, Written w) {
        TreeSet<Integer> ids = orphanBackends.get(addrPort(ref.addr(), ref.port()));
        if (ids == null) {
            return OptionalInt.empty();
        }
        for (Integer id : ids) {
            BackendEntry entry = orphanEntries.get(id);
            if (entry != null && entry.svcId() == w.svcId && backendIds.adopt(ref, id)) {
                ids.remove(id);
                if (ids.isEmpty()) {
                    orphanBackends.remove(addrPort(ref.addr(), ref.port()));
                }
                orphanEntries.remove(id);
                w.backends.put(id, entry);
                return OptionalInt.of(id);
            }
        }
        return OptionalInt.empty();
    }

    private <K, V> int write(KeyValueMap<K, V> map, List<Op<K, V>> ops, Map<SvcKey, String> failed) {
        List<Op<K, V>> pending = ops.stream().filter(o -> !failed.containsKey(o.frontend())).toList();
        int issued = 0;
        while (!pending.isEmpty()) {
            issued += pending.size();
            try {
                map.putAll(pending.stream().<Map.Entry<K, V>>map(o -> new SimpleImmutableEntry<>(o.key(), o.value())).toList());
                pending.forEach(o -> o.onDone().run());
                return issued;
            } catch (BatchException e) {
                int applied = Math.max(0, Math.min(e.applied(), pending.size() - 1));
                pending.subList(0, applied).forEach(o -> o.onDone().run());
                failed.put(pending.get(applied).frontend(), reason(map, e));
                issued -= pending.size() - applied - 1;
                pending = pending.subList(applied + 1, pending.size()).stream()
                        .filter(o -> !failed.containsKey(o.frontend())).toList();
            } catch (RuntimeException e) {
                for (Op<K, V> o : pending) {
                    failed.putIfAbsent(o.frontend(), reason(map, e));
                }
                return issued;
            }
        }
        return issued;
    }

    private <K> int delete(KeyValueMap<K, ?> map, List<Op<K, Void>> ops, Map<SvcKey, String> failed) {
        List<Op<K, Void>> pending = ops.stream().filter(o -> !failed.containsKey(o.frontend())).toList();
        if (pending.isEmpty()) {
            return 0;
        }
        try {
            map.deleteAll(pending.stream().map(Op::key).toList());
            pending.forEach(o -> o.onDone().run());
        } catch (RuntimeException e) {
            // deletes are idempotent: what was not deleted is retried on the next apply
            for (Op<K, Void> o : pending) {
                failed.putIfAbsent(o.frontend(), reason(map, e));
            }
        }
        return pending.size();
    }

    private <K> int deleteUnowned(KeyValueMap<K, ?> map, java.util.function.Predicate<K> owned) {
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

    private Written writtenOfService(int svcId) {
        SvcKey fk = serviceIds.ownerOf(svcId);
        return fk == null ? null : written.get(fk);
    }

    private static String reason(KeyValueMap<?, ?> map, RuntimeException e) {
        if (e instanceof BpfException be && be.errno() == E2BIG) {
            return map.name() + " is full (" + map.maxEntries() + " entries)";
        }
        return e.getMessage();
    }

    private static List<Plan> live(List<Plan> plans, Map<SvcKey, String> failed) {
        return plans.stream().filter(p -> !failed.containsKey(p.frontend())).toList();
    }

    private static long addrPort(int addr, int port) {
        return (Integer.toUnsignedLong(addr) << 16) | port;
    }

    /** The frontends of a Service; throws IllegalArgumentException for an address that does not parse. */
    private static Map<SvcKey, Spec> specs(NormalizedService s) {
        int vip = Ipv4.parse(s.clusterIp());
        Map<SvcKey, Spec> specs = new LinkedHashMap<>();
        for (ServicePort port : s.ports()) {
            List<BackendSpec> backends = new ArrayList<>();
            Set<Long> seen = new HashSet<>();
            for (Backend b : port.backends()) {
                int addr = Ipv4.parse(b.ip());
                if (seen.add(addrPort(addr, b.port()))) {
                    backends.add(new BackendSpec(addr, b.port(), b.state() == Backend.State.TERMINATING));
                }
            }
            specs.putIfAbsent(new SvcKey(vip, port.port(), port.protocol().number),
                    new Spec(vip, port.port(), List.copyOf(backends), s.affinityTimeoutSeconds()));
        }
        return specs;
    }
}
