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
     * Removes enilb's filters from {@code ifName} and {@code lo} inside {@code netns}. Nothing
     * else is touched; a missing filter is not an error.
     */
    void detach(Path netns, String ifName);

    /** The enilb programs attached in {@code netns} to {@code ifName} and {@code lo}. */
    List<AttachedProgram> attached(Path netns, String ifName);

    /**
     * One enilb filter found on a device.
     *
     * @param device      device name inside the pod namespace
     * @param direction   "ingress" or "egress"
     * @param programId   kernel program id
     * @param programName the program's name as bpftool prints it
     */
    record AttachedProgram(String device, String direction, int programId, String programName) {
    }
}
