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
import io.enilb.model.IpFamily;

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

    /** The family's entry layouts (the structs' constructors and accessors). */
    interface Layout<K, A, B, R, V> {
        /** An address in canonical text ({@link IpFamily#canonical}); IllegalArgumentException otherwise. */
        A parse(String address);

        String format(A address);

        K frontend(A address, int port, int proto);

        A frontendAddress(K frontend);

        B backend(A address, int port, boolean terminating, int svcId);

        A backendAddress(B backend);

        int backendPort(B backend);

        int backendSvcId(B backend);

        R revNat(A address, int port);

        V vip(A address);

        A vipAddress(V vip);
    }

    static final Layout<SvcKey, Integer, BackendEntry, RevNatValue, VipKey> IPV4 = new Layout<>() {
        @Override
        public Integer parse(String address) {
            return Ipv4.parse(address);
        }

        @Override
        public String format(Integer address) {
            return Ipv4.format(address);
        }

        @Override
        public SvcKey frontend(Integer address, int port, int proto) {
            return new SvcKey(address, port, proto);
        }

        @Override
        public Integer frontendAddress(SvcKey frontend) {
            return frontend.addr();
        }

        @Override
        public BackendEntry backend(Integer address, int port, boolean terminating, int svcId) {
            return new BackendEntry(address, port, terminating ? BackendEntry.TERMINATING : 0, svcId);
        }

        @Override
        public Integer backendAddress(BackendEntry backend) {
            return backend.addr();
        }

        @Override
        public int backendPort(BackendEntry backend) {
            return backend.port();
        }

        @Override
        public int backendSvcId(BackendEntry backend) {
            return backend.svcId();
        }

        @Override
        public RevNatValue revNat(Integer address, int port) {
            return new RevNatValue(address, port);
        }

        @Override
        public VipKey vip(Integer address) {
            return new VipKey(address);
        }

        @Override
        public Integer vipAddress(VipKey vip) {
            return vip.addr();
        }
    };

    static final Layout<SvcKey6, Ipv6, BackendEntry6, RevNatValue6, VipKey6> IPV6 = new Layout<>() {
        @Override
        public Ipv6 parse(String address) {
            return Ipv6.parse(address);
        }

        @Override
        public String format(Ipv6 address) {
            return address.toString();
        }

        @Override
        public SvcKey6 frontend(Ipv6 address, int port, int proto) {
            return new SvcKey6(address, port, proto);
        }

        @Override
        public Ipv6 frontendAddress(SvcKey6 frontend) {
            return frontend.addr();
        }

        @Override
        public BackendEntry6 backend(Ipv6 address, int port, boolean terminating, int svcId) {
            return new BackendEntry6(address, port, terminating ? BackendEntry.TERMINATING : 0, svcId);
        }

        @Override
        public Ipv6 backendAddress(BackendEntry6 backend) {
            return backend.addr();
        }

        @Override
        public int backendPort(BackendEntry6 backend) {
            return backend.port();
        }

        @Override
        public int backendSvcId(BackendEntry6 backend) {
            return backend.svcId();
        }

        @Override
        public RevNatValue6 revNat(Ipv6 address, int port) {
            return new RevNatValue6(address, port);
        }

        @Override
        public VipKey6 vip(Ipv6 address) {
            return new VipKey6(address);
        }

        @Override
        public Ipv6 vipAddress(VipKey6 vip) {
            return vip.addr();
        }
    };
}
