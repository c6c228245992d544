package io.enilb.natmap;

import static io.enilb.natmap.Fixtures.active;
import static io.enilb.natmap.Fixtures.frontend;
import static io.enilb.natmap.Fixtures.svc;
import static io.enilb.natmap.Fixtures.tcp;
import static io.enilb.natmap.Fixtures.terminating;
import static io.enilb.natmap.Fixtures.upsert;
import static org.assertj.core.api.Assertions.assertThat;

import io.enilb.bpf.Structs.SvcKey;
import io.enilb.model.Backend;
import io.enilb.model.NormalizedService;
import io.enilb.model.Protocol;
import java.util.List;
import org.junit.jupiter.api.Test;

class DesiredServicesTest {
    private final DesiredServices<SvcKey, Integer> desired = new DesiredServices<>(NatMaps.inMemory(16, 64).ipv4());

    /** Service web at 10.96.0.10:80/TCP with these backends, as nat-map is handed it. */
    private NormalizedService applyWeb(Backend... backends) {
        NormalizedService web = svc("web", "10.96.0.10", 0, tcp(80, backends));
        desired.apply(upsert(web));
        return web;
    }

    private List<Backend> desiredWebBackends() {
        return desired.get(frontend("10.96.0.10", 80, Protocol.TCP)).backends();
    }

    @Test
    void aDesiredFrontendRefersToTheModelsBackendsInsteadOfCopyingThem() {
        NormalizedService web = applyWeb(active("10.0.0.1", 8080), terminating("10.0.0.2", 8080), active("10.0.0.2", 8081));

        assertThat(desiredWebBackends()).isSameAs(web.clusterIps().get(0).ports().get(0).backends());
    }

    @Test
    void aBackendListedTwiceIsDesiredOnceAsFirstListed() {
        applyWeb(active("10.0.0.2", 8080), terminating("10.0.0.1", 8080), active("10.0.0.1", 8080));

        assertThat(desiredWebBackends()).containsExactly(active("10.0.0.2", 8080), terminating("10.0.0.1", 8080));
    }
}
