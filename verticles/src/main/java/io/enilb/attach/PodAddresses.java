package io.enilb.attach;

import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/**
 * The pods' own addresses as the datapath's source check knows them (ABI v2 {@code enilb_pod4}:
 * {network namespace cookie, IPv4 address}). The egress program only starts a NEW flow for a
 * packet whose source address is registered for the namespace it leaves, so one pod cannot spoof
 * another's address to reach, disturb or evict that pod's flows. Every method blocks: call it
 * from a worker.
 */
public interface PodAddresses {

    /**
     * Registers {@code ipv4} (addresses as {@link io.enilb.bpf.Ipv4} ints) for the namespace at
     * {@code netns} and returns that namespace's cookie, which identifies it for as long as the
     * kernel runs (it survives the path's removal, so DEL can forget without the namespace).
     */
    long register(Path netns, List<Integer> ipv4);

    /** Removes the addresses registered for the namespace with {@code netnsCookie}; absent ones are skipped. */
    void forget(long netnsCookie, List<Integer> ipv4);

    /** Removes every registration of a namespace not in {@code netnsCookies} (pods gone while the daemon was down). */
    void retainOnly(Set<Long> netnsCookies);
}
