package io.enilb.bpf;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import jnr.ffi.Pointer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * enilb's compiled BPF object, loaded into the kernel: its programs and its maps, pinned under
 * a pin root. A pin that already exists is reused as it is (a daemon that starts again keeps
 * every flow); closing the object releases the programs' fds, while attached programs and
 * pinned maps stay in the kernel.
 */
public final class BpfObject implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(BpfObject.class);

    private final Bpf bpf = Bpf.get();
    private final Path objectFile;
    private final Path pinRoot;
    private Pointer obj;

    private BpfObject(Path objectFile, Path pinRoot, Pointer obj) {
        this.objectFile = objectFile;
        this.pinRoot = pinRoot;
        this.obj = obj;
    }

    /**
     * Opens {@code objectFile}, pins its maps under {@code pinRoot} (reusing pins that exist) and
     * loads it.
     *
     * @param mapSizes max_entries per map name for maps that are created now; a pinned map whose
     *                 size differs is an error, because resizing would flush it
     */
    public static BpfObject load(Path objectFile, Path pinRoot, Map<String, Integer> mapSizes) {
        Bpf bpf = Bpf.get();
        if (!Files.isReadable(objectFile)) {
            throw new BpfException("open " + objectFile, "BPF object not found (built by mvn package into bpf/target/bpf)");
        }
        try {
            Files.createDirectories(pinRoot);
        } catch (IOException e) {
            throw new BpfException("create pin root " + pinRoot, e.toString());
        }
        Pointer obj = bpf.checkPointer(bpf.lib.bpf_object__open_file(objectFile.toString(), null),
                "bpf_object__open_file " + objectFile);
        BpfObject loaded = new BpfObject(objectFile, pinRoot, obj);
        try {
            List<String> retired = unpin(pinRoot, MapNames.RETIRED);
            if (!retired.isEmpty()) {
                LOG.info("removed the pins of retired map versions {} under {} (per-socket state only)", retired, pinRoot);
            }
            for (String name : MapNames.ALL) {
                Pointer map = loaded.findMap(name);
                Integer size = mapSizes.get(name);
                Path pin = pinRoot.resolve(name);
                if (Files.exists(pin)) {
                    loaded.checkPinned(name, pin, map, size);
                } else if (size != null) {
                    bpf.check(bpf.lib.bpf_map__set_max_entries(map, size), "bpf_map__set_max_entries " + name);
                }
                bpf.check(bpf.lib.bpf_map__set_pin_path(map, pin.toString()), "bpf_map__set_pin_path " + pin);
            }
            int rc = bpf.lib.bpf_object__load(obj);
            if (rc < 0) {
                throw new BpfException("bpf_object__load " + objectFile, -rc,
                        "pin root " + pinRoot + " must be on a BPF filesystem; libbpf printed the details above");
            }
            LOG.info("datapath loaded from {}, maps pinned under {}", objectFile, pinRoot);
            return loaded;
        } catch (RuntimeException e) {
            loaded.close();
            throw e;
        }
    }

    public Path pinRoot() {
        return pinRoot;
    }

    public BpfProgram program(String name) {
        Pointer prog = bpf.lib.bpf_object__find_program_by_name(obj, name);
        if (prog == null || prog.address() == 0) {
            throw new BpfException("find program " + name, "not in " + objectFile);
        }
        return new BpfProgram(name, bpf.check(bpf.lib.bpf_program__fd(prog), "bpf_program__fd " + name));
    }

    public <K, V> BpfMap<K, V> map(String name, StructCodec<K> keys, StructCodec<V> values) {
        Pointer map = findMap(name);
        return new BpfMap<>(name, bpf.check(bpf.lib.bpf_map__fd(map), "bpf_map__fd " + name),
                bpf.lib.bpf_map__max_entries(map), bpf.lib.bpf_map__key_size(map), bpf.lib.bpf_map__value_size(map),
                keys, values);
    }

    public <V> PerCpuArray<V> perCpuArray(String name, StructCodec<V> values) {
        Pointer map = findMap(name);
        return new PerCpuArray<>(name, bpf.check(bpf.lib.bpf_map__fd(map), "bpf_map__fd " + name),
                bpf.lib.bpf_map__max_entries(map), bpf.lib.bpf_map__value_size(map), values);
    }

    /** The fd of a map that has no key/value layout (a ring buffer); valid until close. */
    int mapFd(String name) {
        return bpf.check(bpf.lib.bpf_map__fd(findMap(name)), "bpf_map__fd " + name);
    }

    private Pointer findMap(String name) {
        Pointer map = bpf.lib.bpf_object__find_map_by_name(obj, name);
        if (map == null || map.address() == 0) {
            throw new BpfException("find map " + name, "not in " + objectFile);
        }
        return map;
    }

    /** A pinned map is reused only as it is: same layout and size, or libbpf refuses to load. */
    private void checkPinned(String name, Path pin, Pointer map, Integer wantedSize) {
        int fd = bpf.check(bpf.lib.bpf_obj_get(pin.toString()), "bpf_obj_get " + pin);
        try {
            MapInfo info = MapInfo.ofFd(fd, pin.toString());
            int keySize = info.keySize();
            int valueSize = info.valueSize();
            int pinnedSize = info.maxEntries();
            if (keySize != bpf.lib.bpf_map__key_size(map) || valueSize != bpf.lib.bpf_map__value_size(map)) {
                throw new BpfException("reuse pinned map " + pin, "its key/value sizes " + keySize + "/" + valueSize
                        + " differ from this build's; a layout change needs a new map version (_v<N>)");
            }
            if (wantedSize != null && wantedSize != pinnedSize) {
                throw new BpfException("reuse pinned map " + pin, "it holds " + pinnedSize + " entries, "
                        + wantedSize + " are configured; configure " + pinnedSize
                        + " or remove the pin (which drops what it holds)");
            }
            bpf.check(bpf.lib.bpf_map__set_max_entries(map, pinnedSize), "bpf_map__set_max_entries " + name);
            LOG.debug("reusing pinned map {} (type {}, {} entries)", pin, info.type(), pinnedSize);
        } finally {
            bpf.libc.close(fd);
        }
    }

    /** Releases the object; attached programs and pinned maps stay in the kernel. Safe twice. */
    @Override
    public synchronized void close() {
        if (obj != null) {
            bpf.lib.bpf_object__close(obj);
            obj = null;
        }
    }

    /**
     * Removes every pin of the current map versions (and of retired ones) under {@code pinRoot},
     * and the pods' tcx links pinned there (detached): drops all state.
     */
    public static void unpinAll(Path pinRoot) {
        TcxLinks.releaseAll(pinRoot);
        unpin(pinRoot, MapNames.ALL);
        unpin(pinRoot, MapNames.RETIRED);
        try {
            if (Files.isDirectory(pinRoot)) {
                try (var left = Files.list(pinRoot)) {
                    if (left.findAny().isEmpty()) {
                        Files.delete(pinRoot);
                    }
                }
            }
        } catch (IOException e) {
            throw new BpfException("remove pin root " + pinRoot, e.toString());
        }
    }

    /** Removes the pins of {@code names} under {@code pinRoot}; the names of those that existed. */
    private static List<String> unpin(Path pinRoot, List<String> names) {
        List<String> removed = new ArrayList<>();
        for (String name : names) {
            if (unpin(pinRoot.resolve(name))) {
                removed.add(name);
            }
        }
        return removed;
    }

    /** Removes one pin (a link's: the kernel detaches it once nothing else holds it); false when there was none. */
    static boolean unpin(Path pin) {
        try {
            return Files.deleteIfExists(pin);
        } catch (IOException e) {
            throw new BpfException("unpin " + pin, e.toString());
        }
    }

    /** Names of the maps as pinned; the suffix is the layout version. */
    public static final class MapNames {
        private MapNames() {
        }

        public static final String SERVICES = "enilb_svc4_v2";
        public static final String SLOTS = "enilb_slot4_v2";
        public static final String BACKENDS = "enilb_be4_v2";
        public static final String REV_NAT = "enilb_rnat4_v2";
        public static final String CONNTRACK = "enilb_ct4_v2";
        public static final String AFFINITY = "enilb_aff4_v2";
        public static final String SERVICE_STATS = "enilb_stat4_v2";
        public static final String DROPS = "enilb_drop4_v2";
        /** conntrack lifetimes (one entry) */
        public static final String CONFIG = "enilb_cfg4_v2";
        /** the source addresses each pod owns; sized by bpf.max-pods x addresses */
        public static final String PODS = "enilb_pod4_v2";
        /** first fragments' ports for the later fragments (LRU). */
        public static final String FRAGMENTS = "enilb_frag4_v2";
        /** ClusterIP addresses, so that nothing to one leaks untranslated. */
        public static final String CLUSTER_IPS = "enilb_vip4_v2";

        /** flow events: a ring buffer, pinned so that a restarted daemon reads what attached programs write */
        public static final String FLOWS = "enilb_flows4_v2";
        /** flow events per second and burst per CPU (one entry) */
        public static final String FLOW_CONFIG = "enilb_flowcfg4_v2";
        /** per-CPU flow event limiter and emitted/lost counts */
        public static final String FLOW_LIMITER = "enilb_flowlim4_v2";
        /** the pod namespaces whose sockets are translated at connect/sendmsg. */
        public static final String SOCK_SCOPE = "enilb_sockscope4_v2";
        /** per-socket storage of connected sockets (frontend and backend). */
        public static final String SOCK_NAT = "enilb_socknat4_v2";
        /** unconnected UDP sockets' destinations (LRU). */
        public static final String SOCK_FLOWS = "enilb_sockflow4_v3";
        /** the pod namespaces whose IPv6 sockets are translated, with their first IPv6 address. */
        public static final String SOCK_SCOPE6 = "enilb_sockscope6_v2";
        /** per-socket storage of connected IPv6 sockets. */
        public static final String SOCK_NAT6 = "enilb_socknat6_v2";
        /** unconnected UDP sockets' IPv6 destinations (LRU). */
        public static final String SOCK_FLOWS6 = "enilb_sockflow6_v3";

        // IPv6, the same maps with 16-byte addresses. Service ids, the service stats,
        // the drop counters and the conntrack lifetimes (CONFIG) are shared by both families.
        public static final String SERVICES6 = "enilb_svc6_v2";
        public static final String SLOTS6 = "enilb_slot6_v2";
        public static final String BACKENDS6 = "enilb_be6_v2";
        public static final String REV_NAT6 = "enilb_rnat6_v2";
        public static final String CONNTRACK6 = "enilb_ct6_v2";
        public static final String AFFINITY6 = "enilb_aff6_v2";
        public static final String PODS6 = "enilb_pod6_v2";
        public static final String FRAGMENTS6 = "enilb_frag6_v2";
        public static final String CLUSTER_IPS6 = "enilb_vip6_v2";
        /** the IPv6 Service CIDR (one entry) */
        public static final String CONFIG6 = "enilb_cfg6_v2";

        public static final List<String> ALL = List.of(SERVICES, SLOTS, BACKENDS, REV_NAT, CONNTRACK, AFFINITY,
                SERVICE_STATS, DROPS, CONFIG, PODS, FRAGMENTS, CLUSTER_IPS, FLOWS, FLOW_CONFIG, FLOW_LIMITER,
                SERVICES6, SLOTS6, BACKENDS6, REV_NAT6, CONNTRACK6, AFFINITY6, PODS6, FRAGMENTS6, CLUSTER_IPS6,
                CONFIG6, SOCK_SCOPE, SOCK_NAT, SOCK_FLOWS, SOCK_SCOPE6, SOCK_NAT6, SOCK_FLOWS6);

        /**
         * Pins of earlier layouts that {@link #load} removes: per-socket state only (the unconnected UDP
         * flows before they held their last use), nothing to migrate, since a socket's next datagram
         * chooses again. The old programs keep their map until the new ones replace their links.
         */
        public static final List<String> RETIRED = List.of("enilb_sockflow4_v2", "enilb_sockflow6_v2");
    }
}
