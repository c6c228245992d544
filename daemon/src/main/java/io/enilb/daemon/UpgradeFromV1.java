package io.enilb.daemon;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.OptionalLong;

import io.enilb.bpf.Maps;
import io.enilb.bpf.MigrationV1;
import io.enilb.bpf.Structs.CtConfig;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A start over the pins of the v1 map set (an upgrade): migrate, then switch. The order, and why:
 * <ol>
 * <li>the v2 object is loaded beside the v1 pins; the v1 programs still run on the pods;</li>
 * <li>attach registers the recorded pods' addresses in the v2 pods map: a v2 conntrack entry is
 *     keyed by the pod's namespace cookie, which the migration finds there by client address;</li>
 * <li>{@link #beforeReattach}: the v1 flows are copied into the v2 conntrack table (v1 is only
 *     read), then nat-map writes the v2 frontends (its first full sync): when the v2 programs take
 *     over, live flows find their entries and new flows their Services;</li>
 * <li>attach re-attaches the recorded pods' programs: v2 replaces v1 in place on each hook;</li>
 * <li>{@link #afterReattach}: only now, with no v1 program left reading them, the v1 pins go.</li>
 * </ol>
 * Flows a v1 program creates between the copy and the switch are not carried over (a window of
 * one full sync; new connections then, not established ones). Should the first sync not come
 * within attach's start budget, the daemon fails to start with nothing switched: the v1 programs
 * and pins keep serving, and the next start copies again (the copy only adds entries).
 */
final class UpgradeFromV1 {
    private static final Logger LOG = LoggerFactory.getLogger(UpgradeFromV1.class);

    private final Vertx vertx;
    private final Path pinRoot;
    private final Maps maps;
    private final CtConfig lifetimes;

    private UpgradeFromV1(Vertx vertx, Path pinRoot, Maps maps, CtConfig lifetimes) {
        this.vertx = vertx;
        this.pinRoot = pinRoot;
        this.maps = maps;
        this.lifetimes = lifetimes;
    }

    /** The upgrade to run at this start, or null when {@code pinRoot} holds no v1 pins. */
    static UpgradeFromV1 ifNeeded(Vertx vertx, Path pinRoot, Maps maps, CtConfig lifetimes) {
        if (!MigrationV1.present(pinRoot)) {
            return null;
        }
        LOG.info("v1 pins under {}: upgrading (migrate conntrack, write frontends, re-attach, remove v1 pins)", pinRoot);
        return new UpgradeFromV1(vertx, pinRoot, maps, lifetimes);
    }

    /**
     * Step 3, on a worker: copies the v1 flows, then waits for {@code frontendsWritten} (nat-map
     * ready after the first full sync).
     */
    Future<Void> beforeReattach(Future<Void> frontendsWritten) {
        return vertx.executeBlocking(() -> {
            Map<Integer, Long> cookies = new HashMap<>();
            maps.pods().entries().keySet().forEach(k -> cookies.put(k.addr(), k.netnsCookie()));
            MigrationV1.Result r = MigrationV1.migrate(pinRoot, maps, addr -> {
                Long cookie = cookies.get(addr);
                return cookie == null ? OptionalLong.empty() : OptionalLong.of(cookie);
            }, lifetimes, System.nanoTime());
            if (r.unknownPod() > 0) {
                LOG.warn("{} v1 flows of addresses no recorded pod owns were not migrated", r.unknownPod());
            }
            return null;
        }, false).compose(migrated -> {
            LOG.info("v1 flows migrated; waiting for the v2 frontends before the programs are replaced");
            return frontendsWritten;
        });
    }

    /** Step 5: the v2 programs run on every recorded pod. */
    void afterReattach() {
        MigrationV1.removeV1Pins(pinRoot);
        LOG.info("upgrade from v1 done: v1 pins under {} removed", pinRoot);
    }
}
