package io.enilb.conntrack;

import java.time.Duration;

import io.enilb.bpf.ConntrackGc;
import io.enilb.bpf.Maps;
import io.enilb.bpf.Structs.CtConfig;
import io.enilb.bpf.Structs.FrontendPrefix6;

/**
 * The datapath's conntrack tables ({@code enilb_ct4_v2} and {@code enilb_ct6_v2}, swept one after
 * the other and reported as one: same lifetimes, same interval; the pressure is the fuller
 * table's, so that the interval shortens when either fills), the CT_FULL drops and the config
 * ({@code enilb_cfg4_v2}): the lifetimes, and the prefix all ClusterIPs lie in (the Service CIDR:
 * a TCP packet to no frontend outside it skips the conntrack lookup a deleted Service's flow needs);
 * the IPv6 Service CIDR goes to {@code enilb_cfg6_v2}, for the same purpose.
 */
public final class KernelConntrackTable implements ConntrackTable {
    private final Maps maps;
    private final ConntrackGc<?, ?> gc4;
    private final ConntrackGc<?, ?> gc6;
    private final int frontendNet;
    private final int frontendPrefixLength;
    private final FrontendPrefix6 frontends6;

    /**
     * @param frontendNet          the Service CIDR's address ({@link io.enilb.bpf.Ipv4} int)
     * @param frontendPrefixLength its prefix length; 0: ClusterIPs may be anywhere
     * @param frontends6           the IPv6 Service CIDR; {@link FrontendPrefix6#ANYWHERE}: IPv6
     *                             ClusterIPs may be anywhere
     */
    public KernelConntrackTable(Maps maps, int frontendNet, int frontendPrefixLength, FrontendPrefix6 frontends6) {
        this.maps = maps;
        this.gc4 = ConntrackGc.v4(maps.conntrack());
        this.gc6 = ConntrackGc.v6(maps.conntrack6());
        this.frontendNet = frontendNet;
        this.frontendPrefixLength = frontendPrefixLength;
        this.frontends6 = frontends6;
    }

    @Override
    public Sweep sweep(long nowNs) {
        ConntrackGc.GcResult r4 = gc4.sweep(nowNs);
        ConntrackGc.GcResult r6 = gc6.sweep(nowNs);
        ConntrackGc.GcResult fuller = r6.pressure() > r4.pressure() ? r6 : r4;
        return new Sweep(r4.scanned() + r6.scanned(), r4.removed() + r6.removed(), fuller.live(), fuller.capacity(),
                Duration.ofNanos(r4.elapsedNs() + r6.elapsedNs()));
    }

    @Override
    public long fullDrops() {
        return maps.dropped(Maps.DropReason.CT_FULL);
    }

    /**
     * Writes the lifetimes together with the frontend prefix given at construction (one config
     * entry), and the IPv6 frontend prefix (also when it is "anywhere": the pinned entry may hold
     * a prefix an earlier configuration set).
     */
    @Override
    public void writeLifetimes(Lifetimes l) {
        maps.configure(CtConfig.lifetimes(l.tcpSyn().toNanos(), l.tcpEstablished().toNanos(), l.tcpClosing().toNanos(),
                l.other().toNanos()).withFrontendPrefix(frontendNet, frontendPrefixLength));
        maps.configure6(frontends6);
    }
}
