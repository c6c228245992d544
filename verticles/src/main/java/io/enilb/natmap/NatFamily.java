package io.enilb.natmap;

import io.enilb.bpf.Ipv4;
import io.enilb.bpf.Ipv6;
import io.enilb.bpf.KeyValueMap;
import io.enilb.bpf.Structs.BackendEntry;
import io.enilb.bpf.Structs.BackendEntry6;
import io.enilb.bpf.Structs.RevNatValue;
import io.enilb.bpf.Structs.RevNatValue6;
import io.enilb.bpf.Structs.SlotKey;
import io.enilb.bpf.Structs.SlotValue;
import io.enilb.bpf.Structs.SvcKey;
import io.enilb.bpf.Structs.SvcKey6;
import io.enilb.bpf.Structs.SvcValue;
import io.enilb.bpf.Structs.VipKey;
import io.enilb.bpf.Structs.VipKey6;
import io.enilb.bpf.Structs.VipValue;
import io.enilb.model.AddressBits;
import io.enilb.model.Backend;
import io.enilb.model.IpFamily;
import java.util.function.BiFunction;
import java.util.function.Function;
import java.util.function.ToIntFunction;

/**
 * One address family as the nat-map writer programs it: the family's maps and how its entries
 * are made. The writer, its desired state and its phase table are written once, over these type
 * parameters; IPv4 and IPv6 are two instances (slot keys and service values are shared layouts).
 *
 * @param <K> the frontend key (struct svc_key / svc6_key)
 * @param <A> an address (Ipv4 int / Ipv6)
 * @param <B> a backend entry (struct backend / backend6)
 * @param <R> a reverse NAT value (struct revnat_value / revnat6_value)
 * @param <V> a ClusterIP address key (struct vip_key / vip6_key)
 */
record NatFamily<K, A, B, R, V>(
        IpFamily family,
        KeyValueMap<K, SvcValue> services,
        KeyValueMap<SlotKey, SlotValue> slots,
        KeyValueMap<Integer, B> backends,
        KeyValueMap<Integer, R> revNat,
        KeyValueMap<V, VipValue> clusterIps,
        Layout<K, A, B, R, V> layout) {

    /** Makes a frontend key from its address, port and protocol. */
    @FunctionalInterface
    interface FrontendOf<K, A> {
        K make(A address, int port, int proto);
    }

    /** Makes a backend entry from its address, port, state and its frontend's service id. */
    @FunctionalInterface
    interface BackendOf<B, A> {
        B make(A address, int port, boolean terminating, int svcId);
    }

    /**
     * The family's entry layouts: the structs' constructors and accessors.
     *
     * @param parse        an address in canonical text ({@link IpFamily#canonical}); IllegalArgumentException otherwise
     * @param modelAddress the address of a model backend of the family
     * @param model        the model backend a backend entry stands for (its service id aside)
     */
    record Layout<K, A, B, R, V>(
            Function<String, A> parse,
            Function<A, String> format,
            Function<Backend, A> modelAddress,
            Function<B, Backend> model,
            FrontendOf<K, A> frontend,
            Function<K, A> frontendAddress,
            BackendOf<B, A> backend,
            Function<B, A> backendAddress,
            ToIntFunction<B> backendPort,
            ToIntFunction<B> backendSvcId,
            BiFunction<A, Integer, R> revNat,
            Function<A, V> vip,
            Function<V, A> vipAddress) {

        /**
         * The entry of a model backend of a frontend with service id {@code svcId}: the entry names
         * its frontend's service id, so that the datapath can tell a conntrack or affinity entry
         * whose backend id now belongs to another Service (ABI v2).
         */
        B entry(Backend b, int svcId) {
            return backend.make(modelAddress.apply(b), b.port(), b.state() == Backend.State.TERMINATING, svcId);
        }
    }

    static final Layout<SvcKey, Integer, BackendEntry, RevNatValue, VipKey> IPV4 = new Layout<>(
            Ipv4::parse, Ipv4::format, b -> AddressBits.ipv4(b.addressHigh(), b.addressLow()),
            e -> Backend.of(0, AddressBits.ipv4Low(e.addr()), e.port(), state(e.terminating())), SvcKey::new, SvcKey::addr,
            (addr, port, terminating, svcId) -> new BackendEntry(addr, port, flags(terminating), svcId),
            BackendEntry::addr, BackendEntry::port, BackendEntry::svcId, RevNatValue::new, VipKey::new, VipKey::addr);

    static final Layout<SvcKey6, Ipv6, BackendEntry6, RevNatValue6, VipKey6> IPV6 = new Layout<>(
            Ipv6::parse, Ipv6::toString, b -> new Ipv6(b.addressHigh(), b.addressLow()),
            e -> Backend.of(e.addr().hi(), e.addr().lo(), e.port(), state(e.terminating())), SvcKey6::new, SvcKey6::addr,
            (addr, port, terminating, svcId) -> new BackendEntry6(addr, port, flags(terminating), svcId),
            BackendEntry6::addr, BackendEntry6::port, BackendEntry6::svcId, RevNatValue6::new, VipKey6::new,
            VipKey6::addr);

    private static Backend.State state(boolean terminating) {
        return terminating ? Backend.State.TERMINATING : Backend.State.ACTIVE;
    }

    /** BACKEND_F_TERMINATING, the same bit in both families' backend entries. */
    private static int flags(boolean terminating) {
        return terminating ? BackendEntry.TERMINATING : 0;
    }
}
