package io.enilb.conntrack;

import java.time.Duration;

import io.enilb.bpf.ConntrackGc;
import io.enilb.bpf.Maps;
import io.enilb.bpf.Structs.CtConfig;

/** The datapath's conntrack table ({@code enilb_ct4_v2}), its CT_FULL drops and lifetime config. */
public final class KernelConntrackTable implements ConntrackTable {
    private final Maps maps;
    private final ConntrackGc gc;

    public KernelConntrackTable(Maps maps) {
        this.maps = maps;
        this.gc = new ConntrackGc(maps.conntrack());
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

    @Override
    public void writeLifetimes(Lifetimes l) {
        maps.configure(CtConfig.lifetimes(l.tcpSyn().toNanos(), l.tcpEstablished().toNanos(), l.tcpClosing().toNanos(),
                l.other().toNanos()));
    }
}
