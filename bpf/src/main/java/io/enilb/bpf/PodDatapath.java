package io.enilb.bpf;

import java.nio.file.Path;
import java.util.List;

/**
 * enilb's programs on one pod: egress and ingress on the pod's NIC, egress on its loopback.
 * Every method enters the pod's network namespace on a dedicated thread and always returns to
 * the host namespace. Calls block; never call them on an event-loop thread.
 */
public interface PodDatapath {

    /**
     * Attaches the programs to {@code ifName} and {@code lo} inside {@code netns}. Idempotent: an
     * older enilb program there is replaced in place; filters and qdiscs of others stay.
     *
     * @throws BpfException when the namespace or device is missing or the kernel refuses
     */
    void attach(Path netns, String ifName);

    /**
     * Moves the programs {@link #attach} put on {@code ifName} and {@code lo} inside {@code netns}
     * to where this datapath prefers them when getting there takes longer than a CNI ADD should
     * wait: from clsact filters to tcx links, whose making waits for the kernel's RCU grace
     * periods. The pod is translated all along. Idempotent; for a pod between its ADD and DEL.
     *
     * @return whether anything moved
     * @throws BpfException when the namespace or device is missing or the kernel refuses
     */
    boolean promote(Path netns, String ifName);

    /**
     * Removes enilb's programs from {@code ifName} and {@code lo} inside {@code netns}. Nothing
     * else is touched; a missing program is not an error.
     */
    void detach(Path netns, String ifName);

    /**
     * Removes enilb's programs from a pod whose namespace can no longer be entered (deleted, or
     * on its way out), by the cookie {@link #registerAddresses} returned for it: its tcx links,
     * pinned by that cookie. Clsact filters go with their device. Nothing there is no error.
     */
    void detachGone(long netnsCookie);

    /**
     * Releases the tcx links whose device is gone (a pod deleted while no daemon ran, or whose
     * DEL never came): their pins, all that is left of them.
     *
     * @return how many were released
     */
    int releaseDefunct();

    /**
     * Records {@code ipv4} (Ipv4 ints) as the source addresses the pod in {@code netns} may open
     * flows from; egress drops a new flow from any other source (DROP_SPOOFED). Idempotent.
     *
     * @return the namespace's cookie, which {@link #forgetAddresses} takes (the namespace may be
     *         gone by the time the pod is deleted)
     * @throws BpfException when the namespace cannot be entered or the pod map is full (E2BIG)
     */
    default long registerAddresses(Path netns, List<Integer> ipv4) {
        return registerAddresses(netns, ipv4, List.of());
    }

    /**
     * Records the pod's IPv4 ({@link Ipv4} ints) and IPv6 addresses, as
     * {@link #registerAddresses(Path, List)}; a new IPv6 flow from another source is dropped the
     * same way (DROP_SPOOFED). Idempotent.
     *
     * @return the namespace's cookie
     * @throws BpfException when the namespace cannot be entered or a pod map is full (E2BIG)
     */
    long registerAddresses(Path netns, List<Integer> ipv4, List<Ipv6> ipv6);

    /** Removes what {@link #registerAddresses(Path, List)} recorded; absent entries are no error. */
    default void forgetAddresses(long netnsCookie, List<Integer> ipv4) {
        forgetAddresses(netnsCookie, ipv4, List.of());
    }

    /** Removes what {@link #registerAddresses(Path, List, List)} recorded; absent entries are no error. */
    void forgetAddresses(long netnsCookie, List<Integer> ipv4, List<Ipv6> ipv6);

    /** The cookie of the network namespace at {@code netns} (see {@link Netns}). */
    long netnsCookie(Path netns);

    /** The enilb programs attached in {@code netns} to {@code ifName} and {@code lo}. */
    List<AttachedProgram> attached(Path netns, String ifName);

    /**
     * One enilb program found on a device.
     *
     * @param device      device name inside the pod namespace
     * @param direction   "ingress" or "egress"
     * @param programId   kernel program id
     * @param programName the program's name as bpftool prints it
     * @param attachment  "tcx" (a link) or "clsact" (a filter)
     */
    record AttachedProgram(String device, String direction, int programId, String programName, String attachment) {
    }
}
