package io.enilb.natmap;

import io.enilb.bpf.KeyValueMap;
import io.enilb.bpf.Structs.SlotKey;
import io.enilb.bpf.Structs.SvcValue;
import io.enilb.bpf.Structs.VipValue;
import io.enilb.model.Backend;
import io.enilb.model.ServiceChange;
import io.enilb.natmap.DesiredServices.Frontend;
import io.enilb.natmap.NatMaps.ServiceCounters;
import io.enilb.natmap.WritePhases.Step;
import it.unimi.dsi.fastutil.ints.Int2IntMap;
import it.unimi.dsi.fastutil.ints.Int2IntOpenHashMap;
import it.unimi.dsi.fastutil.ints.Int2ObjectMap;
import it.unimi.dsi.fastutil.ints.Int2ObjectMaps;
import it.unimi.dsi.fastutil.ints.Int2ObjectOpenHashMap;
import it.unimi.dsi.fastutil.ints.IntArrayList;
import it.unimi.dsi.fastutil.ints.IntList;
import it.unimi.dsi.fastutil.objects.Object2IntMap;
import it.unimi.dsi.fastutil.objects.Object2IntMaps;
import it.unimi.dsi.fastutil.objects.Object2IntOpenHashMap;
import java.util.ArrayList;
import java.util.Collection;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
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
 * The nat-map writer of one address family (see {@link NatMapWriter}, which runs one per family
 * over shared id allocators): plans each dirty frontend of the family against what is written
 * and hands the plans to the family's phase table. Called under the {@link NatMapWriter}'s lock.
 *
 * @param <K> the frontend key
 * @param <A> an address
 * @param <B> a backend entry
 * @param <R> a reverse NAT value
 * @param <V> a ClusterIP address key
 */
final class FamilyWriter<K, A, B, R, V> {
    private static final Logger log = LoggerFactory.getLogger(FamilyWriter.class);

    private final NatFamily<K, A, B, R, V> maps;
    private final NatFamily.Layout<K, A, B, R, V> layout;
    private final ServiceCounters counters;
    private final DesiredServices<K, A> desired;
    /**
     * Shared by the families: one service id space (one counters array), one backend id space.
     * A backend id's owner is its frontend's key; which address and port it stands for is in the
     * frontend's written entries (ids are per frontend), so no object per backend is kept for it.
     */
    private final IdAllocator<Object> serviceIds;
    private final IdPool<Object> backendIds;
    private final WritePhases<K, B, R> phases;
    private final Map<K, WrittenFrontend<R>> written = new HashMap<>();
    private final Map<K, String> failures = new LinkedHashMap<>();
    private Map<Step, Integer> lastBatch = Map.of();
    /** ClusterIP address -> frontend count as written in the address map. */
    private final Map<A, Integer> clusterIpsWritten = new HashMap<>();
    /** ClusterIP address -> frontends whose service entry is written (what the address map should say). */
    private final Object2IntOpenHashMap<A> frontendsOfClusterIp = new Object2IntOpenHashMap<>();
    /** Addresses whose count in the address map may differ from {@link #frontendsOfClusterIp}. */
    private final Set<A> clusterIpsToSync = new LinkedHashSet<>();
    /** Keys of the maps that restore found and no frontend adopted: what reconcile deletes if still unowned. */
    private final Strays<K> strays = new Strays<>();

    /** Entries found at restore that no frontend adopted, per map. */
    private static final class Strays<K> {
        final List<K> services = new ArrayList<>();
        final List<SlotKey> slots = new ArrayList<>();
        final List<Integer> backends = new ArrayList<>();
        final List<Integer> revNat = new ArrayList<>();

        void clear() {
            services.clear();
            slots.clear();
            backends.clear();
            revNat.clear();
        }
    }

    FamilyWriter(NatFamily<K, A, B, R, V> maps, ServiceCounters counters, IdAllocator<Object> serviceIds,
                 IdPool<Object> backendIds) {
        this.maps = maps;
        this.layout = maps.layout();
        this.counters = counters;
        this.desired = new DesiredServices<>(maps);
        this.serviceIds = serviceIds;
        this.backendIds = backendIds;
        this.phases = new WritePhases<>(maps, backendIds::release);
    }

    NatFamily<K, A, B, R, V> maps() {
        return maps;
    }

    /** See {@link NatMapWriter#restore()}; ids are reserved, not released, here. */
    void restore() {
        Map<Integer, K> byId = new HashMap<>();
        maps.services().entries().forEach((fk, v) -> {
            if (serviceIds.adopt(fk, v.svcId())) {
                WrittenFrontend<R> w = new WrittenFrontend<>(v.svcId());
                w.service = v;
                written.put(fk, w);
                byId.put(v.svcId(), fk);
            } else {
                log.warn("frontend {}: service id {} out of range or taken; reconcile will remove it", fk, v.svcId());
                strays.services.add(fk);
            }
        });
        maps.slots().entries().forEach((k, v) -> {
            K fk = byId.get(k.svcId());
            if (fk != null) {
                written.get(fk).slots.put(k.slot(), v.backendId());
            } else {
                serviceIds.reserve(k.svcId());
                strays.slots.add(k);
            }
        });
        maps.revNat().entries().forEach((id, v) -> {
            K fk = byId.get(id);
            if (fk != null) {
                written.get(fk).revNat = v;
            } else {
                serviceIds.reserve(id);
                strays.revNat.add(id);
            }
        });
        // a backend entry names its frontend's service id (ABI v2): terminating backends, which
        // no slot names, are adopted as well as active ones
        maps.backends().entries().forEach((id, e) -> {
            K fk = byId.get(layout.backendSvcId().applyAsInt(e));
            Backend backend = fk == null ? null : modelOf(e);
            // two ids of one address and port of a frontend (an earlier crash) are both adopted:
            // its next plan keeps one and deletes the other
            if (backend != null && backendIds.adopt(fk, id)) {
                written.get(fk).backends.put((int) id, backend);
            } else {
                backendIds.reserve(id);
                strays.backends.add(id);
            }
        });
        maps.clusterIps().entries().forEach((k, v) -> clusterIpsWritten.put(layout.vipAddress().apply(k), v.frontends()));
        countFrontendsOfClusterIps();
        syncClusterIps();
    }

    /** Counts the written frontends of every address again, and marks every address to be synced. */
    private void countFrontendsOfClusterIps() {
        frontendsOfClusterIp.clear();
        written.forEach((fk, w) -> {
            if (w.service != null) {
                frontendsOfClusterIp.addTo(layout.frontendAddress().apply(fk), 1);
            }
        });
        clusterIpsToSync.addAll(clusterIpsWritten.keySet());
        clusterIpsToSync.addAll(frontendsOfClusterIp.keySet());
    }

    /** Returns the frontends it planned: those of the changed Services, before and after, and the failed ones. */
    Set<K> apply(List<ServiceChange> changes) {
        Set<K> dirty = new LinkedHashSet<>(failures.keySet());
        dirty.addAll(desired.apply(changes));
        syncSafely(dirty);
        return dirty;
    }

    /**
     * Removes the frontends restored from the maps that no Service wants, retries the failed ones,
     * and deletes the entries restore found that nobody owns; the counts cover all three. Every
     * desired frontend was written when its Service arrived, and only this writer writes the maps
     * after restore, so neither the maps nor the frontends in sync are read again: the cost is the
     * strays, not the maps.
     */
    Map<Step, Integer> reconcile() {
        Set<K> undesired = new LinkedHashSet<>(failures.keySet());
        for (K fk : written.keySet()) {
            if (desired.get(fk) == null) {
                undesired.add(fk);
            }
        }
        syncSafely(undesired);
        Map<Step, Integer> counts = new EnumMap<>(Step.class);
        counts.putAll(lastBatch);
        int services = deleteUnowned(maps.services(), strays.services, fk -> {
            WrittenFrontend<R> w = written.get(fk);
            return w != null && w.service != null;
        });
        int slots = deleteUnowned(maps.slots(), strays.slots, k -> {
            WrittenFrontend<R> w = writtenOfService(k.svcId());
            return w != null && w.slots.containsKey(k.slot());
        });
        int backends = deleteUnowned(maps.backends(), strays.backends, id -> {
            Object owner = backendIds.ownerOf(id);
            WrittenFrontend<R> w = owner == null ? null : written.get(owner);
            return w != null && w.backends.containsKey(id);
        });
        int revNat = deleteUnowned(maps.revNat(), strays.revNat, id -> {
            WrittenFrontend<R> w = writtenOfService(id);
            return w != null && w.revNat != null;
        });
        counts.merge(Step.SERVICE_DELETES, services, Integer::sum);
        counts.merge(Step.SLOT_DELETES, slots, Integer::sum);
        counts.merge(Step.BACKEND_DELETES, backends, Integer::sum);
        counts.merge(Step.REVNAT_DELETES, revNat, Integer::sum);
        strays.clear();
        lastBatch = counts;
        int stray = services + slots + backends + revNat;
        if (stray > 0) {
            log.info("reconcile deleted {} {} entries no service owns ({} frontends, {} slots, {} backends, {} reverse NAT)",
                    stray, maps.family().kubernetesName, services, slots, backends, revNat);
        }
        return counts;
    }

    Map<K, String> failures() {
        return failures;
    }

    int frontendsProgrammed() {
        return (int) written.entrySet().stream()
                .filter(e -> e.getValue().service != null && !failures.containsKey(e.getKey())).count();
    }

    int backendsProgrammed() {
        return written.values().stream().mapToInt(w -> w.backends.size()).sum();
    }

    /** Entries written or deleted by the last apply or reconcile, per phase. */
    Map<Step, Integer> lastBatch() {
        return lastBatch;
    }

    // --- sync ---

    private void syncSafely(Collection<K> dirty) {
        try {
            sync(dirty);
        } catch (RuntimeException e) {
            // A bug, not a map error (those are handled per frontend): keep the daemon up and retry.
            log.error("nat-map sync of {} frontends failed; retrying them on the next apply", dirty.size(), e);
            for (K fk : dirty) {
                failures.putIfAbsent(fk, "internal error: " + e);
            }
            // the sync stopped part way: the per-address counts may have missed a change
            countFrontendsOfClusterIps();
        }
    }

    private void sync(Collection<K> dirty) {
        Map<K, String> failed = new LinkedHashMap<>();
        List<FrontendPlan<K, R>> plans = new ArrayList<>();
        /* the planned frontends whose service entry was written before this sync */
        Set<K> hadService = new HashSet<>();
        for (K fk : dirty) {
            WrittenFrontend<R> before = written.get(fk);
            if (before != null && before.service != null) {
                hadService.add(fk);
            }
            failures.remove(fk);
            Frontend<A> frontend = desired.get(fk);
            if (frontend == null) {
                if (written.containsKey(fk)) {
                    plans.add(FrontendPlan.removal(fk));
                }
                continue;
            }
            FrontendPlan<K, R> plan = plan(fk, frontend, failed);
            if (plan != null) {
                plans.add(plan);
            }
        }
        lastBatch = phases.run(plans, written::get, failed);
        for (FrontendPlan<K, R> p : plans) {
            WrittenFrontend<R> w = written.get(p.frontend());
            if (failed.containsKey(p.frontend())) {
                // Ids taken this round but not in the maps go back, so that the allocator only
                // holds what is written; a frontend with nothing written loses its service id.
                for (int i = 0; i < p.fresh().size(); i++) {
                    int id = p.fresh().getInt(i);
                    if (!w.backends.containsKey(id)) {
                        backendIds.release(id);
                    }
                }
            }
            if (w.isEmpty() && (p.isRemoval() || failed.containsKey(p.frontend()))) {
                written.remove(p.frontend());
                serviceIds.release(p.frontend());
            }
            boolean hasService = w.service != null;
            if (hasService != hadService.contains(p.frontend())) {
                A addr = layout.frontendAddress().apply(p.frontend());
                int delta = hasService ? 1 : -1;
                if (frontendsOfClusterIp.addTo(addr, delta) + delta == 0) {
                    frontendsOfClusterIp.removeInt(addr);
                }
                clusterIpsToSync.add(addr);
            }
        }
        for (Map.Entry<K, String> f : failed.entrySet()) {
            // a removal that failed is retried as long as something of it is written
            if (desired.get(f.getKey()) != null || written.containsKey(f.getKey())) {
                failures.put(f.getKey(), f.getValue());
                log.warn("frontend {}: not programmed: {}", f.getKey(), f.getValue());
            }
        }
        syncClusterIps();
    }

    /**
     * The address map follows the frontend entries that are written: an address is added after
     * its first frontend entry and removed after its last one is gone, so a packet to it is
     * always either translated or (no frontend, or another port) stopped by the datapath instead
     * of leaking. Only addresses whose count changed are visited; a failed write is logged and
     * retried at the next sync.
     */
    private void syncClusterIps() {
        for (Iterator<A> it = clusterIpsToSync.iterator(); it.hasNext(); ) {
            A addr = it.next();
            int n = frontendsOfClusterIp.getInt(addr);
            Integer inMap = clusterIpsWritten.get(addr);
            try {
                if (n > 0 && (inMap == null || inMap != n)) {
                    maps.clusterIps().put(layout.vip().apply(addr), new VipValue(n));
                    clusterIpsWritten.put(addr, n);
                } else if (n == 0 && inMap != null) {
                    maps.clusterIps().delete(layout.vip().apply(addr));
                    clusterIpsWritten.remove(addr);
                }
                it.remove();
            } catch (RuntimeException e) {
                log.warn("ClusterIP {}: not {} {}: {}", layout.format().apply(addr), n > 0 ? "written to" : "removed from",
                        maps.clusterIps().name(), e.getMessage());
            }
        }
    }

    /** The desired entries of a frontend, allocating ids; null (and a failure) when that fails. */
    private FrontendPlan<K, R> plan(K fk, Frontend<A> frontend, Map<K, String> failed) {
        WrittenFrontend<R> w = written.get(fk);
        if (w == null) {
            w = newFrontend(fk, failed);
            if (w == null) {
                return null;
            }
        }
        Object2IntMap<Backend> known = idsByEndpoint(w);
        Int2IntMap slots = new Int2IntOpenHashMap(frontend.backends().size());
        Int2ObjectMap<Backend> backends = new Int2ObjectOpenHashMap<>(frontend.backends().size());
        IntList fresh = new IntArrayList();
        for (Backend b : frontend.backends()) {
            boolean terminating = b.state() == Backend.State.TERMINATING;
            Backend endpoint = terminating ? b.withState(Backend.State.ACTIVE) : b;
            int id;
            if (known.containsKey(endpoint)) {
                id = known.getInt(endpoint);
            } else {
                OptionalInt acquired = backendIds.acquire(fk);
                if (acquired.isEmpty()) {
                    for (int i = 0; i < fresh.size(); i++) {
                        backendIds.release(fresh.getInt(i));
                    }
                    if (w.isEmpty()) {
                        written.remove(fk);
                        serviceIds.release(fk);
                    }
                    failed.put(fk, "no free backend id");
                    return null;
                }
                id = acquired.getAsInt();
                fresh.add(id);
            }
            backends.put(id, b);
            if (!terminating) {
                slots.put(slots.size(), id);
            }
        }
        return new FrontendPlan<>(fk, new SvcValue(w.svcId, slots.size(), frontend.affinityTimeout(), 0),
                layout.revNat().apply(frontend.addr(), frontend.port()), slots, backends, fresh);
    }

    /**
     * The backend ids a frontend has in the maps, by address and port (its backends as ACTIVE):
     * ids are per frontend, so they are looked up in what the frontend has written. Costs the
     * frontend's backends, and nothing for a frontend not written yet (a cold sync).
     */
    private static Object2IntMap<Backend> idsByEndpoint(WrittenFrontend<?> w) {
        if (w.backends.isEmpty()) {
            return Object2IntMaps.emptyMap();
        }
        Object2IntMap<Backend> ids = new Object2IntOpenHashMap<>(w.backends.size());
        Int2ObjectMaps.fastForEach(w.backends, e -> ids.put(e.getValue().withState(Backend.State.ACTIVE), e.getIntKey()));
        return ids;
    }

    /** The model backend of an entry found in the maps, or null when it is not one (a port out of range). */
    private Backend modelOf(B entry) {
        try {
            return layout.model().apply(entry);
        } catch (IllegalArgumentException e) {
            log.warn("backend entry {}: {}; reconcile will remove it", entry, e.getMessage());
            return null;
        }
    }

    /** The id of a frontend's backend {@code addr:port} (the family's address) in the maps. */
    OptionalInt backendId(Object frontend, Object addr, int port) {
        WrittenFrontend<R> w = written.get(frontend);
        if (w == null) {
            return OptionalInt.empty();
        }
        for (Int2ObjectMap.Entry<Backend> e : w.backends.int2ObjectEntrySet()) {
            if (layout.modelAddress().apply(e.getValue()).equals(addr) && e.getValue().port() == port) {
                return OptionalInt.of(e.getIntKey());
            }
        }
        return OptionalInt.empty();
    }

    /**
     * A frontend not in the maps gets the next service id, and that id's counters are zeroed
     * before anything names it: a recycled id must not inherit another Service's traffic.
     */
    private WrittenFrontend<R> newFrontend(K fk, Map<K, String> failed) {
        OptionalInt svcId = serviceIds.acquire(fk);
        if (svcId.isEmpty()) {
            failed.put(fk, "no free service id (" + (maps.services().maxEntries() - 1) + " in use)");
            return null;
        }
        try {
            counters.reset(svcId.getAsInt());
        } catch (RuntimeException e) {
            serviceIds.release(fk);
            failed.put(fk, "cannot zero the counters of service id " + svcId.getAsInt() + ": " + e.getMessage());
            return null;
        }
        WrittenFrontend<R> w = new WrittenFrontend<>(svcId.getAsInt());
        written.put(fk, w);
        return w;
    }

    /** Deletes the {@code candidates} (found at restore) that are still not {@code owned}. */
    private <T> int deleteUnowned(KeyValueMap<T, ?> map, List<T> candidates, Predicate<T> owned) {
        List<T> stray = new ArrayList<>();
        for (T key : candidates) {
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

    /** The written frontend of this family that owns a service id (null: free, reserved or the other family's). */
    private WrittenFrontend<R> writtenOfService(int svcId) {
        Object owner = serviceIds.ownerOf(svcId);
        return owner == null ? null : written.get(owner);
    }
}
