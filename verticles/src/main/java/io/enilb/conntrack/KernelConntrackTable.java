package io.enilb.conntrack;

import java.time.Duration;

import io.enilb.bpf.ConntrackGc;
import io.enilb.bpf.Maps;
import io.enilb.bpf.Structs.CtConfig;

/**
 * The datapath's conntrack table ({@code enilb_ct4_v2}), its CT_FULL drops and its config
 * ({@code enilb_cfg4_v2}): the lifetimes, and the prefix all ClusterIPs lie in (the Service CIDR:
 * a TCP packet to no frontend outside it skips the conntrack lookup a deleted Service's flow needs).
 */
public final class KernelConntrackTable implements ConntrackTable {
    private final Maps maps;
    private final ConntrackGc gc;
    private final int frontendNet;
    private final int frontendPrefixLength;

    /**
     * @param frontendNet          the Service CIDR's address ({@link io.enilb.bpf.Ipv4} int)
     * @param frontendPrefixLength its prefix length; 0: ClusterIPs may be anywhere
     */
    public KernelConntrackTable(Maps maps, int frontendNet, int frontendPrefixLength) {
        this.maps = maps;
        this.gc = new ConntrackGc(maps.conntrack());
        this.frontendNet = frontendNet;
        this.frontendPrefixLength = frontendPrefixLength;
    }

    @Override
    public Sweep sweep(long nowNs) {
        ConntrackGc.GcResult r = gc.sweep(nowNs);
        return new Sweep(r.scanned(), r.removed(), r.live(), r.capacity(), Duration.ofNanos(r.elapsedNs()));
    }

    @Override
    public long fullDrops() {
        return maps.dropped(Maps.DropReason.CT_FULL);
    }

    /** Writes the lifetimes together with the frontend prefix given at construction (one config entry). */
    @Override
    public void writeLifetimes(Lifetimes l) {
        maps.configure(CtConfig.lifetimes(l.tcpSyn().toNanos(), l.tcpEstablished().toNanos(), l.tcpClosing().toNanos(),
                l.other().toNanos()).withFrontendPrefix(frontendNet, frontendPrefixLength));
    }
}
