package io.enilb.natmap;

import io.enilb.bpf.BpfException;
import io.enilb.bpf.KeyValueMap;
import io.enilb.bpf.KeyValueMap.BatchException;
import io.enilb.bpf.Structs.SlotKey;
import io.enilb.bpf.Structs.SlotValue;
import io.enilb.bpf.Structs.SvcValue;
import io.enilb.model.Backend;
import it.unimi.dsi.fastutil.ints.Int2IntMaps;
import it.unimi.dsi.fastutil.ints.Int2ObjectMaps;
import java.util.AbstractMap.SimpleImmutableEntry;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.IntConsumer;

/**
 * The BPF side of a sync: one table of phases, each a (map, kind, selector), run in
 * make-before-break order. Backends, slots, reverse NAT and then the service entry are written
 * before anything is deleted, so a packet never sees a service entry whose slots or backends are
 * missing; a removed frontend first stops taking new flows (service entry), then loses its
 * slots, backends and reverse NAT.
 *
 * <p>A phase's selector compares a frontend's plan with what is written and lists the entries
 * to write or delete; each operation updates the written state only once the kernel took it. A
 * frontend whose operation fails is marked failed and skipped by every later phase, so it keeps
 * what it had; other frontends are unaffected.
 *
 * <p>One table per address family ({@link NatFamily}): the same phases over that family's maps.
 *
 * @param <K> the family's frontend key
 * @param <B> the family's backend entry
 * @param <R> the family's reverse NAT value
 */
final class WritePhases<K, B, R> {
    enum Kind { WRITE, DELETE }

    /** The phases, in the order they run. */
    enum Step {
        BACKEND_WRITES(Kind.WRITE), SLOT_WRITES(Kind.WRITE), REVNAT_WRITES(Kind.WRITE), SERVICE_WRITES(Kind.WRITE),
        SERVICE_DELETES(Kind.DELETE), SLOT_DELETES(Kind.DELETE), BACKEND_DELETES(Kind.DELETE), REVNAT_DELETES(Kind.DELETE);

        final Kind kind;

        Step(Kind kind) {
            this.kind = kind;
        }
    }

    /** One entry to write ({@code value} set) or delete, and what to record once it is done. */
    record Op<F, K, V>(F frontend, K key, V value, Runnable onDone) {
    }

    /** Lists a frontend's operations of one phase (F, R: the family's types; K, V: the map's). */
    @FunctionalInterface
    interface Selector<F, R, K, V> {
        void select(FrontendPlan<F, R> plan, WrittenFrontend<R> written, List<Op<F, K, V>> out);
    }

    record Phase<F, R, K, V>(Step step, KeyValueMap<K, V> map, Selector<F, R, K, V> selector) {
    }

    private final List<Phase<K, R, ?, ?>> table;

    /** @param backendDeleted called with a backend id once its entry is gone (frees the id) */
    WritePhases(NatFamily<K, ?, B, R, ?> maps, IntConsumer backendDeleted) {
        this.table = List.of(
                new Phase<K, R, Integer, B>(Step.BACKEND_WRITES, maps.backends(), (p, w, out) ->
                        Int2ObjectMaps.fastForEach(p.backends(), planned -> {
                            int id = planned.getIntKey();
                            Backend b = planned.getValue();
                            if (!b.equals(w.backends.get(id))) {
                                out.add(new Op<>(p.frontend(), id, maps.layout().entry(b, w.svcId),
                                        () -> w.backends.put(id, b)));
                            }
                        })),
                new Phase<K, R, SlotKey, SlotValue>(Step.SLOT_WRITES, maps.slots(), (p, w, out) ->
                        Int2IntMaps.fastForEach(p.slots(), planned -> {
                            int slot = planned.getIntKey();
                            int id = planned.getIntValue();
                            if (!w.slots.containsKey(slot) || w.slots.get(slot) != id) {
                                out.add(new Op<>(p.frontend(), new SlotKey(w.svcId, slot), new SlotValue(id),
                                        () -> w.slots.put(slot, id)));
                            }
                        })),
                new Phase<K, R, Integer, R>(Step.REVNAT_WRITES, maps.revNat(), (p, w, out) -> {
                    if (!p.isRemoval() && !p.revNat().equals(w.revNat)) {
                        out.add(new Op<>(p.frontend(), w.svcId, p.revNat(), () -> w.revNat = p.revNat()));
                    }
                }),
                new Phase<K, R, K, SvcValue>(Step.SERVICE_WRITES, maps.services(), (p, w, out) -> {
                    if (!p.isRemoval() && !p.service().equals(w.service)) {
                        out.add(new Op<>(p.frontend(), p.frontend(), p.service(), () -> w.service = p.service()));
                    }
                }),
                new Phase<K, R, K, SvcValue>(Step.SERVICE_DELETES, maps.services(), (p, w, out) -> {
                    if (p.isRemoval() && w.service != null) {
                        out.add(new Op<>(p.frontend(), p.frontend(), null, () -> w.service = null));
                    }
                }),
                new Phase<K, R, SlotKey, SlotValue>(Step.SLOT_DELETES, maps.slots(), (p, w, out) -> {
                    for (int slot : w.slots.keySet().toIntArray()) {
                        if (!p.slots().containsKey(slot)) {
                            out.add(new Op<>(p.frontend(), new SlotKey(w.svcId, slot), null, () -> w.slots.remove(slot)));
                        }
                    }
                }),
                new Phase<K, R, Integer, B>(Step.BACKEND_DELETES, maps.backends(), (p, w, out) -> {
                    for (int id : w.backends.keySet().toIntArray()) {
                        if (!p.backends().containsKey(id)) {
                            out.add(new Op<>(p.frontend(), id, null, () -> {
                                w.backends.remove(id);
                                backendDeleted.accept(id);
                            }));
                        }
                    }
                }),
                new Phase<K, R, Integer, R>(Step.REVNAT_DELETES, maps.revNat(), (p, w, out) -> {
                    if (p.isRemoval() && w.revNat != null) {
                        out.add(new Op<>(p.frontend(), w.svcId, null, () -> w.revNat = null));
                    }
                }));
    }

    /**
     * Runs every phase over the plans of frontends not (yet) failed; failures land in
     * {@code failed}. Returns how many entries each phase issued.
     */
    Map<Step, Integer> run(List<FrontendPlan<K, R>> plans, Function<K, WrittenFrontend<R>> written,
                           Map<K, String> failed) {
        Map<Step, Integer> issued = new EnumMap<>(Step.class);
        for (Phase<K, R, ?, ?> phase : table) {
            issued.put(phase.step(), run(phase, plans, written, failed));
        }
        return issued;
    }

    private static <F, R, K, V> int run(Phase<F, R, K, V> phase, List<FrontendPlan<F, R>> plans,
                                           Function<F, WrittenFrontend<R>> written, Map<F, String> failed) {
        List<Op<F, K, V>> ops = new ArrayList<>();
        for (FrontendPlan<F, R> p : plans) {
            if (!failed.containsKey(p.frontend())) {
                phase.selector().select(p, written.apply(p.frontend()), ops);
            }
        }
        return phase.step().kind == Kind.WRITE ? write(phase.map(), ops, failed) : delete(phase.map(), ops, failed);
    }

    /** Writes in batches; a batch that stops part way fails the frontend of the entry it stopped at. */
    private static <F, K, V> int write(KeyValueMap<K, V> map, List<Op<F, K, V>> ops, Map<F, String> failed) {
        List<Op<F, K, V>> pending = ops;
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
                for (Op<F, K, V> o : pending) {
                    failed.putIfAbsent(o.frontend(), reason(map, e));
                }
                return issued;
            }
        }
        return issued;
    }

    private static <F, K, V> int delete(KeyValueMap<K, V> map, List<Op<F, K, V>> ops, Map<F, String> failed) {
        if (ops.isEmpty()) {
            return 0;
        }
        try {
            map.deleteAll(ops.stream().map(Op::key).toList());
            ops.forEach(o -> o.onDone().run());
        } catch (RuntimeException e) {
            // deletes are idempotent: what was not deleted is retried on the next apply
            for (Op<F, K, V> o : ops) {
                failed.putIfAbsent(o.frontend(), reason(map, e));
            }
        }
        return ops.size();
    }

    static String reason(KeyValueMap<?, ?> map, RuntimeException e) {
        if (e instanceof BpfException be && "E2BIG".equals(be.errnoName())) {
            return map.name() + " is full (" + map.maxEntries() + " entries)";
        }
        return e.getMessage();
    }
}
