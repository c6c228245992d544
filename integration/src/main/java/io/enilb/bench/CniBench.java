package io.enilb.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
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
 * daemon's work) with its own runtime and, alternating pod by pod, with the machine's java; the
 * CPU time each plugin process costs; and the daemon's part alone (from its per-request log line,
 * both kinds of ADD). A figure, not a test.
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
            // the plugin as installed (its own runtime next to it), and the same launcher alone in
            // a directory without enilb-jre, which falls back to the machine's java (-jar): the
            // two alternate pod by pod, so that both see the same machine load
            CniPlugin plugin = CniPlugin.of(DaemonProcess.distribution());
            CniPlugin onNodeJava = new CniPlugin(copyWithoutRuntime(DaemonProcess.distribution().resolve("bin/enilb-cni")));
            List<Long> add = new ArrayList<>();
            List<Long> del = new ArrayList<>();
            List<Long> addNodeJava = new ArrayList<>();
            long cpuBundled = 0;
            long cpuNodeJava = 0;
            for (Pod p : pods) {
                long cpu = childCpuTicks();
                long t = System.nanoTime();
                check("ADD", p, plugin.add(p, daemon.socket()));
                add.add(System.nanoTime() - t);
                cpuBundled += childCpuTicks() - cpu;
                t = System.nanoTime();
                check("DEL", p, plugin.del(p, daemon.socket()));
                del.add(System.nanoTime() - t);
                cpu = childCpuTicks();
                t = System.nanoTime();
                check("ADD", p, onNodeJava.add(p, daemon.socket()));
                addNodeJava.add(System.nanoTime() - t);
                cpuNodeJava += childCpuTicks() - cpu;
            }
            for (Pod p : pods) {
                check("DEL", p, plugin.del(p, daemon.socket()));
            }
            List<Double> daemonAdd = new ArrayList<>();
            List<Double> daemonDel = new ArrayList<>();
            Matcher m = DAEMON_TIME.matcher(daemon.logText());
            while (m.find()) {
                (m.group(1).equals("ADD") ? daemonAdd : daemonDel).add(Double.parseDouble(m.group(2)));
            }
            System.out.printf("| %d pods | p50 ms | p99 ms | max ms |%n|---|---:|---:|---:|%n", PODS);
            row("ADD, whole plugin process (its own runtime)", ms(add));
            row("DEL, whole plugin process (its own runtime)", ms(del));
            row("ADD, whole plugin process (the machine's java, -jar)", ms(addNodeJava));
            row("ADD, in the daemon", daemonAdd);
            row("DEL, in the daemon", daemonDel);
            long hz = 100; // USER_HZ
            System.out.printf("%nCPU per ADD process (user + system): its own runtime %.1f ms, the machine's java %.1f ms%n",
                    cpuBundled * 1000.0 / hz / PODS, cpuNodeJava * 1000.0 / hz / PODS);
        }
    }

    private static void check(String command, Pod p, CniPlugin.Run r) {
        if (r.status() != 0) {
            throw new IllegalStateException(command + " " + p.name() + ": " + r.stdout());
        }
    }

    /** CPU time (user + system, clock ticks) of this process's waited-for children: the plugin runs. */
    private static long childCpuTicks() {
        try {
            String stat = Files.readString(Path.of("/proc/self/stat"));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return Long.parseLong(f[13]) + Long.parseLong(f[14]); // cutime, cstime (fields 16, 17)
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Path copyWithoutRuntime(Path launcher) {
        try {
            Path dir = Files.createTempDirectory("enilb-cni-");
            Path copy = dir.resolve("enilb");
            Files.copy(launcher, copy);
            copy.toFile().deleteOnExit();
            dir.toFile().deleteOnExit();
            return copy;
        } catch (IOException e) {
            throw new IllegalStateException(e);
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
