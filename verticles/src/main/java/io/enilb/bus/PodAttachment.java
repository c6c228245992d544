package io.enilb.bus;

import java.util.List;

/**
 * A pod whose NIC carries enilb's programs.
 *
 * @param containerId CNI_CONTAINERID
 * @param ifName      CNI_IFNAME, the pod's NIC inside its namespace
 * @param netns       CNI_NETNS, path of the pod's network namespace
 * @param ips         the pod's IPv4 and IPv6 addresses from prevResult, without prefix length, canonical text
 */
public record PodAttachment(String containerId, String ifName, String netns, List<String> ips) {
    public PodAttachment {
        ips = List.copyOf(ips);
    }
}
