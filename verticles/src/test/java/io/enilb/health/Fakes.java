package io.enilb.health;

import io.vertx.core.Context;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;

/** In-memory stand-ins for what the daemon hands to health. */
final class Fakes {
    private Fakes() {
    }

    /** A datapath that remembers whether it was ever read on an event-loop thread. */
    static final class Datapath implements DatapathView {
        final Map<Integer, ServiceCounters> counters = new ConcurrentHashMap<>();
        final AtomicBoolean readOnEventLoop = new AtomicBoolean();
        volatile int reads;

        private void reading() {
            reads++;
            if (Context.isOnEventLoopThread()) {
                readOnEventLoop.set(true);
            }
        }

        @Override
        public List<Program> programs() {
            reading();
            return List.of(new Program("enilb_egress", 41), new Program("enilb_ingress", 42),
                    new Program("enilb_lo_egress", 43));
        }

        @Override
        public ServiceCounters serviceCounters(int svcId) {
            reading();
            return counters.getOrDefault(svcId, ServiceCounters.ZERO);
        }

        @Override
        public Map<String, Long> drops() {
            reading();
            Map<String, Long> out = new LinkedHashMap<>();
            out.put("no_backend", 7L);
            out.put("ct_full", 0L);
            return out;
        }

        @Override
        public List<MapUsage> maps() {
            reading();
            return List.of(new MapUsage("enilb_svc4_v1", 3, 65536), new MapUsage("enilb_ct4_v1", 120, 262144),
                    new MapUsage("enilb_stat4_v1", -1, 65536));
        }
    }
}
