package io.enilb.bpf;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

import io.enilb.bpf.Structs.CtKey;
import io.enilb.bpf.Structs.CtKey6;
import io.enilb.bpf.Structs.CtValue;
import io.enilb.bpf.Structs.CtValue6;
import io.enilb.bpf.Structs.PodKey;
import io.enilb.bpf.Structs.PodKey6;
import io.enilb.bpf.Structs.PodValue;
import io.enilb.bpf.Structs.SockScope;
import io.enilb.bpf.Structs.SockScope6;
import io.enilb.bpf.Tc.Direction;
import jnr.constants.platform.Errno;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The loaded datapath: the BPF object, its typed maps and its three programs, and the
 * {@link PodDatapath} that puts the programs on pods, as tcx links or clsact filters
 * ({@link TcAttach}).
 */
public final class Datapath implements PodDatapath, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Datapath.class);
    public static final String EGRESS = "enilb_egress";
    public static final String INGRESS = "enilb_ingress";
    public static final String LO_EGRESS = "enilb_lo_egress";
    /** The IPv6 programs: never attached, the IPv4 program of the same attach point tail-calls them. */
    public static final String EGRESS6 = "enilb_egress6";
    public static final String INGRESS6 = "enilb_ingress6";
    public static final String LO_EGRESS6 = "enilb_lo_egress6";
    /** The program array of family6.h, private to this load (never pinned). */
    static final String FAMILY6 = "enilb_family6";
    private static final String LOOPBACK = "lo";
    private static final int ENODEV = Errno.ENODEV.intValue();
    private static final int EINVAL = Errno.EINVAL.intValue();

    private final BpfObject object;
    private final Maps maps;
    private final BpfProgram egress;
    private final BpfProgram ingress;
    private final BpfProgram loEgress;
    private final List<BpfProgram> family6;
    private final NetnsRunner netns = new NetnsRunner();
    /** For {@link #promote}: its waits in the kernel never hold up {@link #attach}. */
    private final NetnsRunner promotions = new NetnsRunner();
    private final Netns cookies = new Netns(netns);
    private final Tc tc = new Tc();
    private final TcxLinks tcx;
    private final TcAttach tcAttach;
    /** Whether the kernel has tcx links: null until a link was made or refused. */
    private volatile Boolean kernelHasTcx;
    private final Rtnetlink rtnetlink = new Rtnetlink();
    private final Bpf bpf = Bpf.get();

    private final List<BpfProgram> socketPrograms;
    private final SocketHooks socketHooks;

    private Datapath(BpfObject object, TcAttach tcAttach, Function<Path, TcxLinks> tcxLinks) {
        this.object = object;
        this.tcAttach = tcAttach;
        this.tcx = tcxLinks.apply(object.pinRoot());
        this.maps = Maps.of(object);
        this.egress = object.program(EGRESS);
        this.ingress = object.program(INGRESS);
        this.loEgress = object.program(LO_EGRESS);
        this.socketPrograms = Arrays.stream(SocketHooks.Hook.values())
                .map(h -> object.program(h.program())).toList();
        this.socketHooks = new SocketHooks(object.pinRoot());
        // indexes FAMILY6_EGRESS, FAMILY6_INGRESS, FAMILY6_LO_EGRESS of family6.h
        this.family6 = List.of(object.program(EGRESS6), object.program(INGRESS6), object.program(LO_EGRESS6));
        BpfMap<Integer, Integer> calls = object.map(FAMILY6, StructCodec.U32, StructCodec.U32);
        for (int i = 0; i < family6.size(); i++) {
            calls.put(i, family6.get(i).fd());
        }
    }

    /**
     * Loads the object and pins (or reuses) its maps; see {@link BpfObject#load}. Pods get tcx
     * links where the kernel has them.
     */
    public static Datapath load(Path objectFile, Path pinRoot, Map<String, Integer> mapSizes) {
        return load(objectFile, pinRoot, mapSizes, TcAttach.AUTO);
    }

    /** Loads the object and pins (or reuses) its maps; pods get their programs as {@code tcAttach} says. */
    public static Datapath load(Path objectFile, Path pinRoot, Map<String, Integer> mapSizes, TcAttach tcAttach) {
        return load(objectFile, pinRoot, mapSizes, tcAttach, TcxLinks::new);
    }

    /** As {@link #load(Path, Path, Map, TcAttach)}, the pods' tcx links kept by {@code tcxLinks} of the pin root. */
    static Datapath load(Path objectFile, Path pinRoot, Map<String, Integer> mapSizes, TcAttach tcAttach,
                         Function<Path, TcxLinks> tcxLinks) {
        BpfObject obj = BpfObject.load(objectFile, pinRoot, mapSizes);
        try {
            return new Datapath(obj, tcAttach, tcxLinks);
        } catch (RuntimeException e) {
            obj.close();
            throw e;
        }
    }

    public Maps maps() {
        return maps;
    }

    /** Where the maps, the socket hooks' links and the pods' tcx links are pinned. */
    public Path pinRoot() {
        return object.pinRoot();
    }

    /** Every loaded program: the three tc programs, then the socket programs. */
    public List<BpfProgram> programs() {
        List<BpfProgram> all = new ArrayList<>(List.of(egress, ingress, loEgress));
        all.addAll(socketPrograms);
        return all;
    }

    /**
     * Service translation at the socket for the registered pods: the cgroup programs on
     * {@code cgroupRoot} (see {@link SocketHooks}, {@link CgroupV2#root()}). Idempotent; a
     * daemon that starts again replaces the programs in the pinned links.
     */
    public List<SocketHooks.Attached> attachSocketHooks(Path cgroupRoot) {
        return socketHooks.attach(cgroupRoot, this::program);
    }

    /** Removes the socket hooks: the tc programs translate everything again. */
    public void detachSocketHooks() {
        socketHooks.detach();
    }

    /** The socket hooks the kernel holds for this pin root. */
    public List<SocketHooks.Attached> socketHooks() {
        return socketHooks.attached();
    }

    public BpfProgram program(String name) {
        return java.util.stream.Stream.concat(programs().stream(), family6.stream()).filter(p -> p.name().equals(name)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no program " + name));
    }

    /** One of a pod's three hooks: a device (index 0 when it is gone), a direction, enilb's program there. */
    private record PodHook(String device, int ifindex, Direction direction, BpfProgram program) {
    }

    /** Egress and ingress of the pod's NIC (index {@code nic}), egress of its loopback (index {@code lo}). */
    private List<PodHook> hooks(String ifName, int nic, int lo) {
        return List.of(new PodHook(ifName, nic, Direction.EGRESS, egress),
                new PodHook(ifName, nic, Direction.INGRESS, ingress),
                new PodHook(LOOPBACK, lo, Direction.EGRESS, loEgress));
    }

    @Override
    public void attach(Path ns, String ifName) {
        netns.call(ns, () -> {
            long cookie = Netns.currentCookie();
            int lo = ifindex(LOOPBACK, ns);
            for (PodHook hook : hooks(ifName, ifindex(ifName, ns), lo)) {
                attachOne(cookie, hook);
            }
            acceptLocalSourceOnLoopback(ns, lo);
            return null;
        });
    }

    /**
     * One program on one hook, at once: swapped into enilb's pinned tcx link there, else in a new
     * link (tc-attach tcx) or a clsact filter (auto: {@link #promote} moves it to a link after;
     * clsact). What enilb had on the hook the other way goes once the new one is in place; tcx
     * runs first, so for that moment the other sees only what the link passes untranslated.
     */
    private void attachOne(long cookie, PodHook h) {
        if (tcAttach != TcAttach.CLSACT && tcx.update(cookie, h.ifindex, h.device, h.direction, h.program)) {
            kernelHasTcx = true;
            tc.detach(h.ifindex, h.device, h.direction);
        } else if (tcAttach == TcAttach.TCX) {
            createLink(cookie, h, true);
            tc.detach(h.ifindex, h.device, h.direction);
        } else {
            tc.attach(h.ifindex, h.device, h.direction, h.program);
            if (tcAttach == TcAttach.CLSACT) {
                tcx.detach(cookie, h.device, h.direction);
            }
        }
    }

    /**
     * A new tcx link on the hook. A kernel without tcx (EINVAL before any link was made) fails a
     * {@code required} one with what to set; otherwise it is remembered and false returned.
     */
    private boolean createLink(long cookie, PodHook h, boolean required) {
        try {
            tcx.create(cookie, h.ifindex, h.device, h.direction, h.program);
        } catch (BpfException e) {
            if (e.errno() != EINVAL || Boolean.TRUE.equals(kernelHasTcx)) {
                throw e;
            }
            if (required) {
                throw new BpfException("bpf.tc-attach tcx", EINVAL, "the kernel has no tcx links (Linux 6.6 or"
                        + " later); set bpf.tc-attach to auto or clsact: " + e.getMessage());
            }
            kernelHasTcx = false;
            LOG.info("bpf.tc-attach auto: the kernel has no tcx links ({}); pods keep clsact filters", e.getMessage());
            return false;
        }
        kernelHasTcx = true;
        return true;
    }

    /**
     * With tc-attach auto: moves the pod's clsact filters to tcx links, on a thread of its own.
     * Making a link waits for an RCU grace period in the kernel (10 - 20 ms each on the test
     * machine, three a pod), which a CNI ADD should not wait for, nor another pod's ADD behind it.
     */
    @Override
    public boolean promote(Path ns, String ifName) {
        if (tcAttach != TcAttach.AUTO || Boolean.FALSE.equals(kernelHasTcx)) {
            return false;
        }
        return promotions.call(ns, () -> {
            long cookie = Netns.currentCookie();
            boolean moved = false;
            for (PodHook hook : hooks(ifName, ifindex(ifName, ns), ifindex(LOOPBACK, ns))) {
                moved |= toLink(cookie, hook);
            }
            return moved;
        });
    }

    /** One hook from its clsact filter to a new tcx link; false when it has a link or the kernel has none. */
    private boolean toLink(long cookie, PodHook h) {
        if (Boolean.FALSE.equals(kernelHasTcx) || tcx.query(cookie, h.ifindex, h.device, h.direction) != null
                || !createLink(cookie, h, false)) {
            return false;
        }
        tc.detach(h.ifindex, h.device, h.direction);
        return true;
    }

    /**
     * A self-access packet enters loopback with the pod's own address as source, which routing
     * drops as a martian unless loopback accepts local sources. Through rtnetlink rather than
     * /proc/sys, which is read-only in a container that is not privileged; on the namespace thread.
     */
    private void acceptLocalSourceOnLoopback(Path ns, int lo) {
        try {
            rtnetlink.setIpv4DevConf(lo, LOOPBACK, Rtnetlink.IPV4_DEVCONF_ACCEPT_LOCAL, 1);
        } catch (BpfException e) {
            throw new BpfException("enable accept_local on lo in " + ns, e.errno(), e.getMessage());
        }
    }

    @Override
    public void detach(Path ns, String ifName) {
        netns.call(ns, () -> {
            long cookie = Netns.currentCookie();
            for (PodHook h : hooks(ifName, bpf.libc.if_nametoindex(ifName), ifindex(LOOPBACK, ns))) {
                if (h.ifindex != 0) {
                    tc.detach(h.ifindex, h.device, h.direction);
                }
                tcx.detach(cookie, h.device, h.direction); // by name: also when the NIC is gone
            }
            return null;
        });
    }

    /**
     * How pods get their programs now: TCX or CLSACT as configured, or as AUTO found when a link
     * was first made or refused; AUTO until then.
     */
    public TcAttach tcAttachInEffect() {
        Boolean tcxWorks = kernelHasTcx;
        return tcAttach != TcAttach.AUTO || tcxWorks == null ? tcAttach : tcxWorks ? TcAttach.TCX : TcAttach.CLSACT;
    }

    @Override
    public void detachGone(long netnsCookie) {
        tcx.detachAll(netnsCookie);
    }

    @Override
    public int releaseDefunct() {
        return tcx.releaseDefunct();
    }

    @Override
    public long registerAddresses(Path ns, List<Integer> ipv4, List<Ipv6> ipv6) {
        long cookie = cookies.cookieOf(ns);
        List<Map.Entry<PodKey, PodValue>> entries = new ArrayList<>();
        for (int addr : ipv4) {
            entries.add(Map.entry(new PodKey(cookie, addr), PodValue.PRESENT));
        }
        List<Map.Entry<PodKey6, PodValue>> entries6 = new ArrayList<>();
        for (Ipv6 addr : ipv6) {
            entries6.add(Map.entry(new PodKey6(cookie, addr), PodValue.PRESENT));
        }
        maps.pods().putAll(entries);
        maps.pods6().putAll(entries6);
        // the socket hooks translate this namespace's sockets of each family it has from now on
        if (!ipv4.isEmpty()) {
            maps.sockScope().put(cookie, new SockScope(ipv4.get(0)));
        }
        if (!ipv6.isEmpty()) {
            maps.sockScope6().put(cookie, new SockScope6(ipv6.get(0)));
        }
        return cookie;
    }

    @Override
    public void forgetAddresses(long netnsCookie, List<Integer> ipv4, List<Ipv6> ipv6) {
        maps.sockScope().delete(netnsCookie);
        maps.sockScope6().delete(netnsCookie);
        maps.pods().deleteAll(ipv4.stream().map(addr -> new PodKey(netnsCookie, addr)).toList());
        maps.pods6().deleteAll(ipv6.stream().map(addr -> new PodKey6(netnsCookie, addr)).toList());
    }

    @Override
    public long netnsCookie(Path ns) {
        return cookies.cookieOf(ns);
    }

    /** The flow events of this datapath: rate, counts, readers of its ring buffer. */
    public FlowEvents flowEvents() {
        return new FlowEvents(object);
    }

    /** The conntrack garbage collector over this datapath's IPv4 table. */
    public ConntrackGc<CtKey, CtValue> conntrackGc() {
        return ConntrackGc.v4(maps.conntrack());
    }

    /** The conntrack garbage collector over this datapath's IPv6 table. */
    public ConntrackGc<CtKey6, CtValue6> conntrackGc6() {
        return ConntrackGc.v6(maps.conntrack6());
    }

    @Override
    public List<AttachedProgram> attached(Path ns, String ifName) {
        return netns.call(ns, () -> {
            List<AttachedProgram> out = new ArrayList<>();
            long cookie = Netns.currentCookie();
            for (PodHook h : hooks(ifName, bpf.libc.if_nametoindex(ifName), ifindex(LOOPBACK, ns))) {
                if (h.ifindex != 0) {
                    collect(out, cookie, h);
                }
            }
            return out;
        });
    }

    /**
     * enilb's program on the hook: its clsact filter's, and its tcx link's (both while a move is
     * under way). In that order: a move makes the link before it removes the filter, so a hook
     * being moved is never missed.
     */
    private void collect(List<AttachedProgram> out, long cookie, PodHook h) {
        ProgramInfo filter = tc.query(h.ifindex, h.direction);
        if (filter != null && filter.name().startsWith("enilb_")) {
            out.add(new AttachedProgram(h.device, h.direction.toString(), filter.id(), filter.name(),
                    TcAttach.CLSACT.value));
        }
        ProgramInfo link = tcx.query(cookie, h.ifindex, h.device, h.direction);
        if (link != null) {
            out.add(new AttachedProgram(h.device, h.direction.toString(), link.id(), link.name(), TcAttach.TCX.value));
        }
    }

    private int ifindex(String device, Path ns) {
        int ifindex = bpf.libc.if_nametoindex(device);
        if (ifindex == 0) {
            throw new BpfException("if_nametoindex " + device + " in " + ns, ENODEV, null);
        }
        return ifindex;
    }

    /** Releases fds; attached programs and pinned maps stay. Safe twice. */
    @Override
    public void close() {
        netns.close();
        promotions.close();
        object.close();
    }
}
