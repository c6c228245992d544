package io.enilb.natmap;

import static io.enilb.natmap.Fixtures.active;
import static io.enilb.natmap.Fixtures.frontend;
import static io.enilb.natmap.Fixtures.svc;
import static io.enilb.natmap.Fixtures.tcp;
import static io.enilb.natmap.Fixtures.terminating;
import static io.enilb.natmap.Fixtures.upsert;
import static org.assertj.core.api.Assertions.assertThat;

import io.enilb.bpf.Structs.SvcKey;
import io.enilb.model.NormalizedService;
import io.enilb.model.Protocol;
import org.junit.jupiter.api.Test;

class DesiredServicesTest {
    private final DesiredServices<SvcKey, Integer> desired = new DesiredServices<>(NatMaps.inMemory(16, 64).ipv4());

    @Test
    void aDesiredFrontendRefersToTheModelsBackendsInsteadOfCopyingThem() {
        NormalizedService web = svc("web", "10.96.0.10", 0,
                tcp(80, active("10.0.0.1", 8080), terminating("10.0.0.2", 8080), active("10.0.0.2", 8081)));
        desired.apply(upsert(web));

        assertThat(desired.get(frontend("10.96.0.10", 80, Protocol.TCP)).backends())
                .isSameAs(web.clusterIps().get(0).ports().get(0).backends());
    }

    @Test
    void aBackendListedTwiceIsDesiredOnceAsFirstListed() {
        NormalizedService web = svc("web", "10.96.0.10", 0,
                tcp(80, active("10.0.0.2", 8080), terminating("10.0.0.1", 8080), active("10.0.0.1", 8080)));
        desired.apply(upsert(web));

        assertThat(desired.get(frontend("10.96.0.10", 80, Protocol.TCP)).backends())
                .containsExactly(active("10.0.0.2", 8080), terminating("10.0.0.1", 8080));
    }
}
