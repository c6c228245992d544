package io.enilb.e2e;

import static io.enilb.lab.ServiceYaml.Endpoint.ready;
import static io.enilb.lab.ServiceYaml.service;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import io.enilb.lab.CniPlugin;
import io.enilb.lab.DaemonProcess;
import io.enilb.lab.Lab;
import io.enilb.lab.LabFixture;
import io.enilb.lab.Pod;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Flow events from the outside: the real daemon process, the real enilb-cni ADD for the client
 * pod, real connections through ClusterIPs; events read through GET /v1/flows and the real
 * enilbctl. The storm runs last: it fills the conntrack table.
 */
@org.junit.jupiter.api.Tag("kernel") // root, BPF and network namespaces: left out by -DexcludedGroups=kernel
@ExtendWith(LabFixture.Extension.class)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class FlowEventsEndToEndTest {
    static Lab lab;
    static DaemonProcess daemon;
    static Pod client;
    static Pod be1;
    static Pod be2;

    @BeforeAll
    static void start(LabFixture fixture) {
        lab = fixture.lab();
        be1 = lab.pod("be1", "198.18.0.21");
        be2 = lab.pod("be2", "198.18.0.22");
        client = lab.macvlanPod("client", "198.18.0.10");
        for (Pod p : List.of(be1, be2, client)) {
            lab.echoServer(p.namespace(), p.name(), 8080, 5353);
        }
        daemon = fixture.daemon(Map.of());
        daemon.writeConfig("node: {name: node-a}\n");
        daemon.putServices("web.yaml", service("web", "198.19.2.1", "TCP", 80, 8080, "",
                List.of(ready(be1.ip()), ready(be2.ip()))));
        daemon.putServices("empty.yaml", service("empty", "198.19.2.2", "TCP", 80, 8080, "", List.of()));
        daemon.putServices("ctl.yaml", service("ctl", "198.19.2.3", "TCP", 80, 8080, "", List.of(ready(be2.ip()))));
        daemon.putServices("storm-a.yaml", service("storm-a", "198.19.2.20", "UDP", 53, 9, "", List.of(ready(be1.ip()))));
        daemon.putServices("storm-b.yaml", service("storm-b", "198.19.2.21", "UDP", 53, 9, "", List.of(ready(be2.ip()))));
        fixture.startDaemonAndAdd(client);
    }

    static JsonArray flows(String query) {
        DaemonProcess.Response r = daemon.get("/v1/flows?" + query);
        assertThat(r.status()).as(r.body()).isEqualTo(200);
        return new JsonObject(r.body()).getJsonArray("flows");
    }

    @Test
    @Order(1)
    void oneCurlThroughAClusterIpIsExactlyOneNewFlowEventNamingPodServiceAndBackend() {
        Lab.Result r = client.tryExec(10, "curl", "-sS", "--max-time", "5", "--local-port", "41001",
                "http://198.19.2.1/");
        assertThat(r.ok()).as(r.output()).isTrue();
        String answeredBy = r.output().strip().split(" ")[0];
        String backend = (answeredBy.equals("be1") ? be1 : be2).ip();

        await().atMost(Duration.ofSeconds(10)).until(() -> !flows("service=default/web").isEmpty());
        JsonArray mine = flows("service=default/web&pod=" + CniPlugin.containerId(client));
        assertThat(mine).hasSize(1);
        JsonObject e = mine.getJsonObject(0);
        assertThat(e.getString("verdict")).isEqualTo("new");
        assertThat(e.getString("pod")).isEqualTo(CniPlugin.containerId(client));
        assertThat(e.getString("client")).isEqualTo(client.ip() + ":41001");
        assertThat(e.getString("service")).isEqualTo("default/web");
        assertThat(e.getString("frontend")).isEqualTo("198.19.2.1:80/tcp");
        assertThat(e.getString("backend")).isEqualTo(backend + ":8080");
        assertThat(e.getString("via")).isEqualTo("random");
    }

    @Test
    @Order(2)
    void aServiceWithoutEndpointsProducesARejectEvent() {
        Lab.Result r = client.tryExec(10, "curl", "-sS", "--max-time", "5", "--local-port", "41002",
                "http://198.19.2.2/");
        assertThat(r.status()).as(r.output()).isEqualTo(7);
        await().atMost(Duration.ofSeconds(10)).until(() -> !flows("verdict=reject&service=default/empty").isEmpty());
        JsonArray rejects = flows("verdict=reject&service=default/empty");
        assertThat(rejects).hasSize(1);
        JsonObject e = rejects.getJsonObject(0);
        assertThat(e.getString("reason")).isEqualTo("NO_BACKEND");
        assertThat(e.getString("client")).isEqualTo(client.ip() + ":41002");
        assertThat(e.getString("pod")).isEqualTo(CniPlugin.containerId(client));
        assertThat(flows("verdict=new&service=default/empty")).isEmpty();
    }

    @Test
    @Order(3)
    void badFiltersAreRefusedWithAReason() {
        DaemonProcess.Response r = daemon.get("/v1/flows?verdict=maybe");
        assertThat(r.status()).isEqualTo(400);
        assertThat(r.body()).contains("verdict must be new, reject or drop");
        assertThat(daemon.get("/v1/flows?since=yesterday").body()).contains("since:");
    }

    @Test
    @Order(4)
    void enilbctlFlowsFollowShowsNewFlowsAndRejectsAsTheyHappen() throws Exception {
        Process ctl = new ProcessBuilder(DaemonProcess.distribution().resolve("bin/enilbctl").toString(),
                "--health", "127.0.0.1:" + daemon.healthPort(), "flows", "--follow", "--pod", client.ip())
                .redirectErrorStream(true).start();
        try {
            BlockingQueue<String> lines = lines(ctl.getInputStream());
            assertThat(lines.poll(30, TimeUnit.SECONDS)).as("header").startsWith("TIME");
            Lab.Result ok = client.tryExec(10, "curl", "-sS", "--max-time", "5", "--local-port", "41003",
                    "http://198.19.2.3/");
            assertThat(ok.ok()).as(ok.output()).isTrue();
            client.tryExec(10, "curl", "-sS", "--max-time", "5", "--local-port", "41004", "http://198.19.2.2/");
            String newFlow = lineWith(lines, client.ip() + ":41003");
            assertThat(newFlow).contains("new", "default/ctl", "198.19.2.3:80/tcp", be2.ip() + ":8080 (random)",
                    CniPlugin.containerId(client).substring(0, 12));
            String reject = lineWith(lines, client.ip() + ":41004");
            assertThat(reject).contains("reject", "default/empty", "NO_BACKEND");
        } finally {
            ctl.destroy();
            ctl.waitFor(10, TimeUnit.SECONDS);
        }
    }

    private static BlockingQueue<String> lines(InputStream in) {
        BlockingQueue<String> lines = new LinkedBlockingQueue<>();
        Thread t = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    lines.add(line);
                }
            } catch (IOException gone) {
                // the process ended
            }
        }, "enilbctl-output");
        t.setDaemon(true);
        t.start();
        return lines;
    }

    private static String lineWith(BlockingQueue<String> lines, String text) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (System.nanoTime() < deadline) {
            String line = lines.poll(1, TimeUnit.SECONDS);
            if (line != null && line.contains(text)) {
                return line;
            }
        }
        throw new AssertionError("no line with " + text + " within 20 s");
    }

    @Test
    @Order(5)
    void theStreamSurvivesClientsThatDisconnectMidStream() throws Exception {
        // twice as many as may follow at once: a follower that leaked would get the later ones refused
        for (int i = 0; i < 32; i++) {
            try (Socket s = new Socket("127.0.0.1", daemon.healthPort())) {
                s.setSoTimeout(20_000);
                s.getOutputStream().write(("GET /v1/flows?follow=true" + (i % 2 == 0 ? "&format=sse" : "")
                        + " HTTP/1.1\r\nHost: enilb\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                String head = readUntil(s.getInputStream(), "\r\n\r\n");
                assertThat(head).as("follower %d", i).startsWith("HTTP/1.1 200");
                if (i % 2 == 1) {
                    s.setSoLinger(true, 0); // a reset rather than an orderly close
                }
            }
        }
        try (Socket s = new Socket("127.0.0.1", daemon.healthPort())) {
            s.setSoTimeout(20_000);
            s.getOutputStream().write("GET /v1/flows?follow=true&verdict=new HTTP/1.1\r\nHost: enilb\r\n\r\n"
                    .getBytes(StandardCharsets.US_ASCII));
            assertThat(readUntil(s.getInputStream(), "\r\n\r\n")).startsWith("HTTP/1.1 200");
            Lab.Result ok = client.tryExec(10, "curl", "-sS", "--max-time", "5", "--local-port", "41005",
                    "http://198.19.2.1/");
            assertThat(ok.ok()).as(ok.output()).isTrue();
            assertThat(readUntil(s.getInputStream(), client.ip() + ":41005")).isNotEmpty();
        }
        assertThat(daemon.get("/healthz").status()).isEqualTo(200);
        assertThat(daemon.process().isAlive()).isTrue();
    }

    private static String readUntil(InputStream in, String marker) throws IOException {
        StringBuilder text = new StringBuilder();
        while (text.indexOf(marker) < 0) {
            int b = in.read();
            if (b < 0) {
                throw new IOException("closed before " + marker + ": " + text);
            }
            text.append((char) b);
        }
        return text.toString();
    }

    @Test
    @Order(6)
    void aStormOf100000NewFlowsKeepsTheDaemonBoundedAndCountsWhatWasLost() throws Exception {
        long pid = daemon.process().pid();
        Map<String, Double> before = flowMetrics();
        long rssBefore = rssKiB(pid);

        Lab.Result r = client.load(300, "udpstorm", "198.19.2.20,198.19.2.21", "53", "10000", "50000");
        assertThat(r.ok()).as(r.output()).isTrue();
        JsonObject storm = new JsonObject(r.output().strip());
        long sent = storm.getLong("sent");
        assertThat(sent).isGreaterThanOrEqualTo(99_000);

        // every datagram opened a flow or was refused (the table fills): one event each, emitted or lost
        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofSeconds(1)).untilAsserted(() -> {
            Map<String, Double> now = flowMetrics();
            double accounted = delta(now, before, "emitted") + delta(now, before, "lost:rate")
                    + delta(now, before, "lost:ring-full");
            assertThat(accounted).as("events emitted or lost, %s before %s", now, before).isGreaterThanOrEqualTo(sent);
            // totals: the kernel's counts are read at most once a second, so a delta may lag by what came meanwhile
            assertThat(now.get("read")).as("read, %s", now).isGreaterThanOrEqualTo(now.get("emitted"));
        });
        Map<String, Double> after = flowMetrics();
        long rssAfter = rssKiB(pid);
        double lostRate = delta(after, before, "lost:rate");
        System.out.printf("flow storm: %d datagrams in %.1f s; events emitted %.0f, read %.0f, lost: rate %.0f, "
                        + "ring full %.0f, daemon %.0f; RSS %d -> %d KiB%n", sent, storm.getDouble("seconds"),
                delta(after, before, "emitted"), delta(after, before, "read"), lostRate,
                delta(after, before, "lost:ring-full"), delta(after, before, "lost:daemon"), rssBefore, rssAfter);
        assertThat(lostRate).as("over flows.rate (1000/s per CPU), counted").isPositive();
        assertThat(flows("").size()).as("the ring of recent events stays at flows.recent").isLessThanOrEqualTo(1000);
        assertThat(rssAfter - rssBefore).as("RSS growth in KiB").isLessThan(96 * 1024);
        assertThat(daemon.get("/healthz").status()).isEqualTo(200);
        JsonObject lost = new JsonObject(daemon.get("/v1/flows?verdict=drop").body()).getJsonObject("lost");
        assertThat(lost.getLong("rate")).isPositive();
    }

    /** enilb_flow_events_* from /metrics: read, emitted, lost:REASON. */
    static Map<String, Double> flowMetrics() {
        Map<String, Double> out = new java.util.HashMap<>();
        daemon.metrics("enilb_flow_events_").forEach((series, value) -> out.put(
                series.equals("enilb_flow_events_total") ? "read"
                        : series.equals("enilb_flow_events_emitted_total") ? "emitted"
                        : "lost:" + series.replaceAll(".*reason=\"([^\"]*)\".*", "$1"), value));
        return out;
    }

    private static double delta(Map<String, Double> now, Map<String, Double> before, String key) {
        return now.getOrDefault(key, 0.0) - before.getOrDefault(key, 0.0);
    }

    private static long rssKiB(long pid) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("\\D", ""));
            }
        }
        throw new IllegalStateException("no VmRSS for " + pid);
    }
}
