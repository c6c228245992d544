package io.enilb.health;

import io.enilb.bpf.BpfMap;
import io.enilb.bpf.BpfProgram;
import io.enilb.bpf.Datapath;
import io.enilb.bpf.FlowEvents;
import io.enilb.bpf.Maps;
import io.enilb.bpf.PerCpuArray;
import io.enilb.bpf.Structs.SvcStats;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The loaded datapath as health reads it: programs, counters and map usage. Every method may
 * block (it reads kernel maps): health calls them on a worker, never on the event loop.
 * {@link #of(Datapath, Duration)} adapts the real {@link Datapath}; tests use a fake.
 */
public interface DatapathView {

    /** The loaded programs. */
    List<Program> programs();

    /** How pods get the tc programs: "tcx", "clsact", or "auto" while no attach has told which. */
    default String tcAttach() {
        return "auto";
    }

    /** The socket hooks attached; none when socket translation is off or unavailable. */
    default List<SocketHook> socketHooks() {
        return List.of();
    }

    /**
     * A cgroup socket hook enilb holds.
     *
     * @param hook      connect4/6, sendmsg4/6, recvmsg4/6, getpeername4/6
     * @param program   the program's name
     * @param programId kernel program id
     * @param cgroup    where it is attached (the cgroup v2 root's path)
     */
    record SocketHook(String hook, String program, int programId, String cgroup) {
    }

    /** The datapath's counters for service id {@code svcId}, summed over the CPUs. */
    ServiceCounters serviceCounters(int svcId);

    /**
     * The counters of every service id up to {@code maxId}, summed over the CPUs, read in bulk: for
     * ranking frontends by traffic. The default reads them one by one.
     */
    default CounterTable allServiceCounters(int maxId) {
        long[] words = new long[(maxId + 1) * CounterTable.WORDS];
        for (int id = 0; id <= maxId; id++) {
            ServiceCounters c = serviceCounters(id);
            words[id * CounterTable.WORDS] = c.packets();
            words[id * CounterTable.WORDS + 1] = c.bytes();
            words[id * CounterTable.WORDS + 2] = c.newFlows();
        }
        return new CounterTable(words);
    }

    /** Packets dropped, by reason in lowercase ("no_backend" ...). */
    Map<String, Long> drops();

    /** Every map with its capacity and (possibly cached) entry count. */
    List<MapUsage> maps();

    /**
     * A loaded program.
     *
     * @param name as {@code bpftool prog show} prints it
     * @param id   kernel program id
     */
    record Program(String name, int id) {
    }

    /** One service id's datapath counters. */
    record ServiceCounters(long packets, long bytes, long newFlows) {
        public static final ServiceCounters ZERO = new ServiceCounters(0, 0, 0);
    }

    /**
     * Every service id's counters as {@code svc_stats} lays them out, three words an id (packets,
     * bytes, new flows): no object per id until one is asked for. Ids past its end read zero.
     */
    final class CounterTable {
        static final int WORDS = 3;
        private final long[] words;

        CounterTable(long[] words) {
            this.words = words;
        }

        /** Whether it was read as far as {@code svcId}. */
        boolean holds(int svcId) {
            return svcId >= 0 && svcId * WORDS + 2 < words.length;
        }

        long bytes(int svcId) {
            return holds(svcId) ? words[svcId * WORDS + 1] : 0;
        }

        ServiceCounters get(int svcId) {
            int i = svcId * WORDS;
            return holds(svcId) ? new ServiceCounters(words[i], words[i + 1], words[i + 2]) : ServiceCounters.ZERO;
        }
    }

    /**
     * One map's usage.
     *
     * @param name     pinned name ({@code enilb_svc4_v1} ...)
     * @param entries  entries in it when last counted, or -1 when not counted (arrays are always full)
     * @param capacity max_entries
     */
    record MapUsage(String name, long entries, int capacity) {
    }

    /**
     * The real datapath. Hash and LRU maps are counted with batch lookups (thousands of entries
     * per syscall); a count is still reused for {@code countEvery}, since conntrack may hold
     * hundreds of thousands of entries.
     */
    public static DatapathView of(Datapath datapath, Duration countEvery) {
        return new Real(datapath, countEvery.toNanos());
    }

    /** Adapter over {@link Datapath}; counts are cached, reads are serialized by the caller's worker. */
    final class Real implements DatapathView {
        private final Datapath datapath;
        private final long countEveryNanos;
        /** The flow events' arrays (rate configuration, per-CPU limiter): fixed, always full. */
        private final List<MapUsage> flowArrays;
        private Map<String, Long> counted = Map.of();
        private long countedAt;

        private Real(Datapath datapath, long countEveryNanos) {
            this.datapath = datapath;
            this.countEveryNanos = countEveryNanos;
            FlowEvents flows = datapath.flowEvents();
            PerCpuArray<?> limiter = flows.limiterMap();
            this.flowArrays = List.of(new MapUsage(flows.configMap().name(), -1, flows.configMap().maxEntries()),
                    new MapUsage(limiter.name(), -1, limiter.maxEntries()));
        }

        @Override
        public List<Program> programs() {
            List<Program> out = new ArrayList<>();
            for (BpfProgram p : datapath.programs()) {
                out.add(new Program(p.name(), p.id()));
            }
            return out;
        }

        @Override
        public String tcAttach() {
            return datapath.tcAttachInEffect().value;
        }

        @Override
        public List<SocketHook> socketHooks() {
            return datapath.socketHooks().stream()
                    .map(a -> new SocketHook(a.hook(), a.programName(), a.programId(), a.cgroup())).toList();
        }

        @Override
        public ServiceCounters serviceCounters(int svcId) {
            SvcStats s = datapath.maps().stats(svcId);
            return new ServiceCounters(s.packets(), s.bytes(), s.newFlows());
        }

        @Override
        public CounterTable allServiceCounters(int maxId) {
            // svc_stats is packets, bytes, new_flows: CounterTable's words (SvcStats.CODEC's offsets)
            return new CounterTable(datapath.maps().serviceStats().sumFirstCounters(maxId + 1));
        }

        @Override
        public Map<String, Long> drops() {
            Map<String, Long> out = new LinkedHashMap<>();
            for (Maps.DropReason reason : Maps.DropReason.values()) {
                out.put(reason.name().toLowerCase(), datapath.maps().dropped(reason));
            }
            return out;
        }

        @Override
        public synchronized List<MapUsage> maps() {
            Maps m = datapath.maps();
            // every hash and LRU map of both families; the arrays (always full) follow below
            List<BpfMap<?, ?>> hashes = List.of(m.services(), m.slots(), m.backends(), m.revNat(), m.conntrack(),
                    m.affinity(), m.pods(), m.fragments(), m.clusterIps(), m.services6(), m.slots6(), m.backends6(),
                    m.revNat6(), m.conntrack6(), m.affinity6(), m.pods6(), m.fragments6(), m.clusterIps6(),
                    m.sockScope(), m.sockFlows());
            long now = System.nanoTime();
            if (countedAt == 0 || now - countedAt >= countEveryNanos) {
                Map<String, Long> fresh = new LinkedHashMap<>();
                for (BpfMap<?, ?> map : hashes) {
                    fresh.put(map.name(), map.count());
                }
                counted = fresh;
                countedAt = Math.max(1, now);
            }
            List<MapUsage> out = new ArrayList<>();
            for (BpfMap<?, ?> map : hashes) {
                out.add(new MapUsage(map.name(), counted.getOrDefault(map.name(), -1L), map.maxEntries()));
            }
            out.add(new MapUsage(m.serviceStats().name(), -1, m.serviceStats().maxEntries()));
            out.add(new MapUsage(m.drops().name(), -1, m.drops().maxEntries()));
            for (BpfMap<?, ?> array : List.of(m.config(), m.config6())) {
                out.add(new MapUsage(array.name(), -1, array.maxEntries()));
            }
            out.addAll(flowArrays);
            return out;
        }
    }
}
