package io.enilb.model;

/**
 * The two IP families a Service may have (spec.ipFamilies, EndpointSlice addressType). Each
 * family of a Service is its own frontend set, as kube-proxy runs one proxier per family.
 */
public enum IpFamily {
    IPV4("IPv4"),
    IPV6("IPv6");

    /** The name the Kubernetes API uses (spec.ipFamilies, addressType). */
    public final String kubernetesName;

    IpFamily(String kubernetesName) {
        this.kubernetesName = kubernetesName;
    }

    /** The family of an address in canonical form (see {@link #canonical}). */
    public static IpFamily of(String canonicalAddress) {
        return canonicalAddress.indexOf(':') >= 0 ? IPV6 : IPV4;
    }

    /** {@code 198.19.0.10:80} or {@code [2001:db8:19::10]:80}: an address in canonical form with a port. */
    public static String withPort(String canonicalAddress, int port) {
        return (of(canonicalAddress) == IPV6 ? "[" + canonicalAddress + "]" : canonicalAddress) + ":" + port;
    }

    /** The family the Kubernetes API calls {@code name}, or null for anything else (FQDN). */
    public static IpFamily ofKubernetes(String name) {
        for (IpFamily family : values()) {
            if (family.kubernetesName.equals(name)) {
                return family;
            }
        }
        return null;
    }

    /**
     * The canonical text of an address: a dotted quad without leading zeros, or IPv6 as RFC 5952
     * writes it (lower case, longest zero run compressed). Null for anything that is not a plain
     * address: names (never resolved), zone ids, IPv4-mapped IPv6 (no family would route it).
     * Text already canonical comes back as the same instance: an address the catalog keeps in its
     * projection and again in the normalized Service is then one String, not two (100 000 at
     * 10 000 Services).
     */
    public static String canonical(String text) {
        byte[] address = AddressBits.parse(text);
        if (address == null) {
            return null;
        }
        String canonical = AddressBits.text(AddressBits.high(address), AddressBits.low(address));
        return canonical.equals(text) ? text : canonical;
    }
}
