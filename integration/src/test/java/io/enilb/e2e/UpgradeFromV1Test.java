package io.enilb.e2e;

import static io.enilb.lab.ServiceYaml.Endpoint.ready;
import static io.enilb.lab.ServiceYaml.service;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import io.enilb.bpf.Tc;
import io.enilb.lab.DaemonProcess;
import io.enilb.lab.HeldFlows;
import io.enilb.lab.Lab;
import io.enilb.lab.Pod;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The daemon started over a node that runs the released v1 datapath: a pod
 * with the v1 programs and a live connection through a ClusterIP; the v2 daemon migrates the
 * flow, writes its frontends, replaces the programs and removes the v1 pins, and the connection
 * goes on. The v1 side is set up as the v1 daemon left it, with generic tools: bpftool loads the
 * released v1 object (bpf/src/test/resources/v1) and pins its maps, tc puts its programs at
 * enilb's handle, the Service goes into the v1 maps as raw bytes, the pod record into state.dir.
 */
@org.junit.jupiter.api.Tag("kernel") // root, BPF and network namespaces: left out by -DexcludedGroups=kernel
class UpgradeFromV1Test {
    private static final String VIP = "198.19.4.1";
    private static final String CONTAINER = "0ff1ce0ff1ce0ff1ce0ff1ce0ff1ce0ff1ce0ff1ce0ff1ce0ff1ce0ff1ce0ff1";
    private static final Path V1_OBJECT = Path.of(System.getProperty("user.dir")).getParent()
            .resolve("bpf/src/test/resources/v1/enilb-v1.bpf.o");

    private Lab lab;
    private DaemonProcess daemon;
    private Path v1Programs;

    @AfterEach
    void cleanUp() throws IOException {
        if (daemon != null) {
            daemon.close();
        }
        if (lab != null) {
            lab.close();
        }
        if (daemon != null) {
            // what the daemon did not remove (a failed upgrade): the v1 programs' and maps' pins
            for (Path p : List.of(v1Programs, daemon.pinRoot())) {
                if (Files.exists(p)) {
                    try (Stream<Path> pins = Files.walk(p)) {
                        for (Path pin : pins.sorted(Comparator.reverseOrder()).toList()) {
                            Files.delete(pin);
                        }
                    }
                }
            }
        }
    }

    @Test
    void aLiveConnectionThroughTheV1DatapathGoesOnAfterTheUpgrade() throws IOException {
        assertThat(V1_OBJECT).as("the released v1 object (see its README)").exists();
        lab = new Lab();
        List<Pod> backends = lab.echoBackends(2);
        Pod client = lab.macvlanPod("client", "198.18.0.10");
        daemon = new DaemonProcess(DaemonProcess.distribution(), Map.of());
        // the per-packet conntrack is under test: flows must take the tc path (socket-lb would
        // translate them at connect, with no conntrack entry)
        daemon.writeConfig("node: {name: node-a}\nsocket-lb: off\n");
        Path pins = daemon.pinRoot();
        v1Programs = pins.resolve("v1-programs");

        // the node as the v1 daemon left it
        Files.createDirectories(pins);
        run("bpftool", "prog", "loadall", V1_OBJECT.toString(), v1Programs.toString(), "type", "classifier",
                "pinmaps", pins.toString());
        v1Service(pins, backends.get(0));
        client.exec("tc", "qdisc", "add", "dev", "eth0", "clsact");
        client.exec("tc", "qdisc", "add", "dev", "lo", "clsact");
        for (String[] hook : new String[][] {{"eth0", "egress", "enilb_egress"}, {"eth0", "ingress", "enilb_ingress"},
                {"lo", "egress", "enilb_lo_egress"}}) {
            client.exec("tc", "filter", "add", "dev", hook[0], hook[1], "prio", Integer.toString(Tc.PRIORITY),
                    "handle", "0x" + Integer.toHexString(Tc.HANDLE), "bpf", "direct-action", "pinned",
                    v1Programs.resolve(hook[2]).toString());
        }
        Files.createDirectories(daemon.stateDir().resolve("pods"));
        Files.writeString(daemon.stateDir().resolve("pods/" + CONTAINER + "@eth0.json"), new JsonObject()
                .put("containerId", CONTAINER).put("ifName", "eth0").put("netns", client.netns().toString())
                .put("ips", List.of(client.ip())).encode());
        String v1Filter = client.exec("tc", "filter", "show", "dev", "eth0", "egress");

        try (HeldFlows held = client.flows()) {
            assertThat(held.tcp(VIP, 80, 1)).as("a connection through the v1 programs").containsExactly("be1");
            // four more: were they not migrated, v2 would spread their next segments over be1 and be2
            assertThat(held.open(VIP, 80, 4).getInteger("ok")).isEqualTo(4);

            daemon.putServices("web.yaml", service("web", VIP, "TCP", 80, 8080, "",
                    backends.stream().map(b -> ready(b.ip())).toList()));
            daemon.startAndAwaitReady(Duration.ofSeconds(60));

            // readiness can come before the last upgrade step (the pins go once attach has re-attached)
            await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
                    assertThat(pins.resolve("enilb_ct4_v1")).as("v1 pins removed").doesNotExist());
            assertThat(pins.resolve("enilb_ct4_v2")).exists();
            assertThat(v1Filter).contains("enilb_egress");
            // re-attached in place of v1's filters, then moved to links (after the daemon is ready)
            await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
                assertThat(client.exec("tc", "filter", "show", "dev", "eth0", "egress")).as("v1's clsact filter gone")
                        .doesNotContain("enilb");
                try (Stream<Path> links = Files.walk(pins.resolve("tcx"))) {
                    assertThat(links.filter(Files::isRegularFile).map(p -> p.getFileName().toString()))
                            .as("v2's programs in tcx links, pinned")
                            .containsExactlyInAnyOrder("egress-eth0", "ingress-eth0", "egress-lo");
                }
            });
            JsonArray pings = held.ping();
            assertThat(pings.getJsonObject(0).getString("answer")).as("the live connection").isEqualTo("be1");
            assertThat(pings.getJsonObject(1).getInteger("open_ok")).as("the other live connections: %s", pings)
                    .isEqualTo(4);
            Lab.Result r = client.load(60, "count", VIP, "80", "20");
            assertThat(r.output()).as("new connections on v2").contains("\"fail\": 0");
            assertThat(daemon.logText()).contains("5 flows migrated");
        }
    }

    /** The Service VIP:80/TCP -> be1:8080 in the v1 maps, as raw bytes (x86: u32 fields little-endian). */
    private void v1Service(Path pins, Pod be1) {
        String vip = hex(VIP);
        String be = hex(be1.ip());
        update(pins, "enilb_be4_v1", "01 00 00 00", be + " 1f 90 00 00");
        update(pins, "enilb_slot4_v1", "01 00 00 00 00 00 00 00", "01 00 00 00");
        update(pins, "enilb_rnat4_v1", "01 00 00 00", vip + " 00 50 00 00");
        update(pins, "enilb_svc4_v1", vip + " 00 50 06 00", "01 00 00 00 01 00 00 00 00 00 00 00 00 00 00 00");
    }

    private void update(Path pins, String map, String key, String value) {
        run(("bpftool map update pinned " + pins.resolve(map) + " key hex " + key + " value hex " + value).split(" "));
    }

    private static String hex(String ipv4) {
        StringBuilder out = new StringBuilder();
        for (String part : ipv4.split("\\.")) {
            out.append(out.length() == 0 ? "" : " ").append(String.format("%02x", Integer.parseInt(part)));
        }
        return out.toString();
    }

    private static void run(String... command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            if (p.waitFor() != 0) {
                throw new IllegalStateException(String.join(" ", command) + ": " + out);
            }
        } catch (IOException | InterruptedException e) {
            throw new IllegalStateException(e);
        }
    }
}
