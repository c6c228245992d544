package io.enilb.attach;

import io.enilb.bpf.BpfException;
import io.enilb.bpf.Ipv4;
import io.enilb.bpf.Ipv6;
import io.enilb.bpf.PodDatapath;
import io.vertx.core.Context;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/** A PodDatapath in memory: records every call and what is "attached" per namespace and device. */
final class RecordingPodDatapath implements PodDatapath {
    /** "attach /ns/a eth0", "detach ...", "attached ..." in call order. */
    final List<String> calls = new CopyOnWriteArrayList<>();
    /** Calls that ran on a Vert.x event-loop thread (must stay empty). */
    final List<String> onEventLoop = new CopyOnWriteArrayList<>();
    /** Attached programs by netns + " " + ifName. */
    final Map<String, List<AttachedProgram>> attached = new ConcurrentHashMap<>();
    /** "cookie address" pairs as the pods map would hold them. */
    final java.util.Set<String> registered = java.util.concurrent.ConcurrentHashMap.newKeySet();
    /** errno for the next attach to fail with (0: none). */
    volatile int failNextAttachWith;
    /** When set, attach waits for it (to hold a request in flight). */
    volatile CountDownLatch attachGate;

    @Override
    public void attach(Path netns, String ifName) {
        record("attach " + netns + " " + ifName);
        pass(attachGate);
        int errno = failNextAttachWith;
        if (errno != 0) {
            failNextAttachWith = 0;
            throw new BpfException("bpf_tc_attach enilb_egress on " + ifName, errno, "");
        }
        attached.put(netns + " " + ifName, List.of(
                new AttachedProgram(ifName, "egress", 11, "enilb_egress", "tcx"),
                new AttachedProgram(ifName, "ingress", 12, "enilb_ingress", "tcx"),
                new AttachedProgram("lo", "egress", 13, "enilb_lo_egress", "tcx")));
    }

    @Override
    public void detach(Path netns, String ifName) {
        record("detach " + netns + " " + ifName);
        attached.remove(netns + " " + ifName);
    }

    /** "promote ns ifName" as each move starts, not in {@link #calls}; with its System.nanoTime in {@link #promotedAt}. */
    final List<String> promoted = new CopyOnWriteArrayList<>();
    final List<Long> promotedAt = new CopyOnWriteArrayList<>();
    /** When set, promote waits for it (to hold a move in flight). */
    volatile CountDownLatch promoteGate;

    @Override
    public boolean promote(Path netns, String ifName) {
        promotedAt.add(System.nanoTime());
        promoted.add("promote " + netns + " " + ifName);
        pass(promoteGate);
        return true;
    }

    /** Waits for {@code gate} to open (at most 10 s); null is open. */
    private static void pass(CountDownLatch gate) {
        if (gate != null) {
            try {
                gate.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    @Override
    public void detachGone(long netnsCookie) {
        record("detachGone " + netnsCookie);
    }

    /** Calls of releaseDefunct (each start makes one), not in {@link #calls}. */
    final AtomicInteger releaseDefunctCalls = new AtomicInteger();

    @Override
    public int releaseDefunct() {
        releaseDefunctCalls.incrementAndGet();
        return 0;
    }

    @Override
    public long registerAddresses(Path netns, List<Integer> ipv4, List<Ipv6> ipv6) {
        record("register " + netns + " " + format(ipv4) + (ipv6.isEmpty() ? "" : " " + ipv6));
        long cookie = netnsCookie(netns);
        ipv4.forEach(a -> registered.add(cookie + " " + Ipv4.format(a)));
        ipv6.forEach(a -> registered.add(cookie + " " + a));
        return cookie;
    }

    @Override
    public void forgetAddresses(long netnsCookie, List<Integer> ipv4, List<Ipv6> ipv6) {
        record("forget " + netnsCookie + " " + format(ipv4) + (ipv6.isEmpty() ? "" : " " + ipv6));
        ipv4.forEach(a -> registered.remove(netnsCookie + " " + Ipv4.format(a)));
        ipv6.forEach(a -> registered.remove(netnsCookie + " " + a));
    }

    private static String format(List<Integer> ipv4) {
        return ipv4.stream().map(Ipv4::format).toList().toString();
    }

    /** A stand-in cookie, stable per path. */
    @Override
    public long netnsCookie(Path netns) {
        return netns.toString().hashCode() & 0xffffffffL;
    }

    @Override
    public List<AttachedProgram> attached(Path netns, String ifName) {
        record("attached " + netns + " " + ifName);
        return new ArrayList<>(attached.getOrDefault(netns + " " + ifName, List.of()));
    }

    private void record(String call) {
        calls.add(call);
        if (Context.isOnEventLoopThread()) {
            onEventLoop.add(call);
        }
    }
}
