package io.enilb.attach;

import io.enilb.bpf.Ipv4;
import io.vertx.core.Context;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;

/** PodAddresses in memory: a cookie per namespace path, the registered {cookie, address} pairs, every call. */
final class RecordingPodAddresses implements PodAddresses {
    /** "register /ns/a [198.18.0.5]", "forget 1 [198.18.0.5]", "retainOnly [1]" in call order. */
    final List<String> calls = new CopyOnWriteArrayList<>();
    final List<String> onEventLoop = new CopyOnWriteArrayList<>();
    /** "cookie address" pairs as the pods map would hold them. */
    final Set<String> registered = new TreeSet<>();
    private final Map<Path, Long> cookies = new ConcurrentHashMap<>();
    private final AtomicLong nextCookie = new AtomicLong(4096);

    long cookieOf(Path netns) {
        return cookies.computeIfAbsent(netns, p -> nextCookie.getAndIncrement());
    }

    @Override
    public synchronized long register(Path netns, List<Integer> ipv4) {
        record("register " + netns + " " + format(ipv4));
        long cookie = cookieOf(netns);
        ipv4.forEach(a -> registered.add(cookie + " " + Ipv4.format(a)));
        return cookie;
    }

    @Override
    public synchronized void forget(long netnsCookie, List<Integer> ipv4) {
        record("forget " + netnsCookie + " " + format(ipv4));
        ipv4.forEach(a -> registered.remove(netnsCookie + " " + Ipv4.format(a)));
    }

    @Override
    public synchronized void retainOnly(Set<Long> netnsCookies) {
        record("retainOnly " + new TreeSet<>(netnsCookies));
        registered.removeIf(entry -> !netnsCookies.contains(Long.parseLong(entry.substring(0, entry.indexOf(' ')))));
    }

    private static String format(List<Integer> ipv4) {
        return ipv4.stream().map(Ipv4::format).toList().toString();
    }

    private void record(String call) {
        calls.add(call);
        if (Context.isOnEventLoopThread()) {
            onEventLoop.add(call);
        }
    }
}
