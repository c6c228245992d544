package io.enilb.bench;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.enilb.lab.CniPlugin;
import io.enilb.lab.DaemonProcess;
import io.enilb.lab.Lab;
import io.enilb.lab.Pod;

/**
 * CNI ADD and DEL for 200 pods with their own NIC (macvlan on the lab fabric), one after the
 * other as a runtime would start them: the whole plugin process (exec, JVM start, socket, the
 * daemon's work) and the daemon's part alone (from its per-request log line). A figure, not a test.
 *
 * <p>Run as root after a build: {@code mvn -q -pl integration exec:java -Dexec.mainClass=io.enilb.bench.CniBench}
 */
public final class CniBench {
    private static final int PODS = Integer.getInteger("bench.pods", 200);
    private static final Pattern DAEMON_TIME = Pattern.compile("pod \\S+ (ADD|DEL) ok in ([0-9.]+) ms");

    public static void main(String[] args) {
        try (Lab lab = new Lab(); DaemonProcess daemon = new DaemonProcess(DaemonProcess.distribution(), Map.of())) {
            daemon.startAndAwaitReady(Duration.ofSeconds(60));
            List<Pod> pods = new ArrayList<>();
            for (int i = 0; i < PODS; i++) {
                pods.add(lab.macvlanPod("p" + i, "198.18." + (10 + i / 250) + "." + (1 + i % 250)));
            }
            CniPlugin plugin = CniPlugin.of(DaemonProcess.distribution());
            List<Long> add = new ArrayList<>();
            List<Long> del = new ArrayList<>();
            for (Pod p : pods) {
                long t = System.nanoTime();
                CniPlugin.Run r = plugin.add(p, daemon.socket());
                add.add(System.nanoTime() - t);
                if (r.status() != 0) {
                    throw new IllegalStateException("ADD " + p.name() + ": " + r.stdout());
                }
            }
            for (Pod p : pods) {
                long t = System.nanoTime();
                CniPlugin.Run r = plugin.del(p, daemon.socket());
                del.add(System.nanoTime() - t);
                if (r.status() != 0) {
                    throw new IllegalStateException("DEL " + p.name() + ": " + r.stdout());
                }
            }
            List<Double> daemonAdd = new ArrayList<>();
            List<Double> daemonDel = new ArrayList<>();
            Matcher m = DAEMON_TIME.matcher(daemon.logText());
            while (m.find()) {
                (m.group(1).equals("ADD") ? daemonAdd : daemonDel).add(Double.parseDouble(m.group(2)));
            }
            System.out.printf("| %d pods | p50 ms | p99 ms | max ms |%n|---|---:|---:|---:|%n", PODS);
            row("ADD, whole plugin process", ms(add));
            row("DEL, whole plugin process", ms(del));
            row("ADD, in the daemon", daemonAdd);
            row("DEL, in the daemon", daemonDel);
        }
    }

    private static List<Double> ms(List<Long> nanos) {
        return nanos.stream().map(n -> n / 1e6).toList();
    }

    private static void row(String what, List<Double> values) {
        List<Double> s = new ArrayList<>(values);
        Collections.sort(s);
        if (s.isEmpty()) {
            System.out.printf("| %s | - | - | - |%n", what);
            return;
        }
        System.out.printf("| %s | %.1f | %.1f | %.1f |%n", what, s.get((int) Math.ceil(0.5 * s.size()) - 1),
                s.get((int) Math.ceil(0.99 * s.size()) - 1), s.get(s.size() - 1));
    }
}
