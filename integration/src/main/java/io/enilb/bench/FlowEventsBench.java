package io.enilb.bench;

import static io.enilb.lab.ServiceYaml.Endpoint.ready;
import static io.enilb.lab.ServiceYaml.service;

import java.time.Duration;
import java.util.List;
import java.util.Map;

import io.enilb.lab.CniPlugin;
import io.enilb.lab.DaemonProcess;
import io.enilb.lab.Lab;
import io.enilb.lab.Pod;
import io.vertx.core.json.JsonObject;

/**
 * Flow events/s the real daemon takes: its rate limit opened wide ({@code flows.rate} 1 000 000
 * per CPU), a lab pod attached through the real plugin sends 100 000 one-datagram UDP flows to
 * two Services as fast as Python can, and /metrics tells how many events the datapath wrote,
 * enilbd read, and what was lost where. Prints a markdown table; a figure, not a test.
 *
 * <p>Run as root: {@code java -cp "daemon/target/enilb/lib/*:integration/target/classes"
 * -Denilb.dist=daemon/target/enilb io.enilb.bench.FlowEventsBench}
 */
public final class FlowEventsBench {
    private static final int ROUNDS = 3;

    public static void main(String[] args) {
        try (Lab lab = new Lab(); DaemonProcess daemon = new DaemonProcess(DaemonProcess.distribution(), Map.of())) {
            Pod be = lab.pod("be", "198.18.0.21");
            Pod client = lab.macvlanPod("client", "198.18.0.10");
            daemon.writeConfig("flows: {rate: 1000000, burst: 1000000, queue-capacity: 65536}\n");
            daemon.putServices("a.yaml", service("storm-a", "198.19.4.1", "UDP", 53, 9, "", List.of(ready(be.ip()))));
            daemon.putServices("b.yaml", service("storm-b", "198.19.4.2", "UDP", 53, 9, "", List.of(ready(be.ip()))));
            daemon.startAndAwaitReady(Duration.ofSeconds(60));
            CniPlugin.Run add = CniPlugin.of(DaemonProcess.distribution()).add(client, daemon.socket());
            if (add.status() != 0) {
                throw new IllegalStateException("CNI ADD failed: " + add.stdout());
            }
            System.out.println("| round | datagrams | send s | written by the datapath | read by enilbd | lost: ring full "
                    + "| lost: enilbd queue | read / send s |");
            System.out.println("|---:|---:|---:|---:|---:|---:|---:|---:|");
            for (int round = 1; round <= ROUNDS; round++) {
                Map<String, Double> before = daemon.metrics("enilb_flow_events_");
                Lab.Result r = client.load(300, "udpstorm", "198.19.4.1,198.19.4.2", "53",
                        Integer.toString(1024 + (round - 1) * 20_000), "20000");
                JsonObject storm = new JsonObject(r.output().strip());
                Map<String, Double> after = settled(daemon, before, storm.getLong("sent"));
                double read = delta(after, before, "enilb_flow_events_total");
                System.out.printf("| %d | %d | %.2f | %.0f | %.0f | %.0f | %.0f | %.0f |%n", round, storm.getLong("sent"),
                        storm.getDouble("seconds"), delta(after, before, "enilb_flow_events_emitted_total"), read,
                        delta(after, before, "enilb_flow_events_lost_total{reason=\"ring-full\"}"),
                        delta(after, before, "enilb_flow_events_lost_total{reason=\"daemon\"}"),
                        read / storm.getDouble("seconds"));
            }
        }
    }

    /** /metrics once every datagram's event was written or lost, and enilbd read what was written. */
    private static Map<String, Double> settled(DaemonProcess daemon, Map<String, Double> before, long sent) {
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (true) {
            Map<String, Double> now = daemon.metrics("enilb_flow_events_");
            double accounted = delta(now, before, "enilb_flow_events_emitted_total")
                    + delta(now, before, "enilb_flow_events_lost_total{reason=\"rate\"}")
                    + delta(now, before, "enilb_flow_events_lost_total{reason=\"ring-full\"}");
            if ((accounted >= sent && now.getOrDefault("enilb_flow_events_total", 0.0)
                    >= now.getOrDefault("enilb_flow_events_emitted_total", 0.0)) || System.nanoTime() > deadline) {
                return now;
            }
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return now;
            }
        }
    }

    private static double delta(Map<String, Double> now, Map<String, Double> before, String series) {
        return now.getOrDefault(series, 0.0) - before.getOrDefault(series, 0.0);
    }
}
