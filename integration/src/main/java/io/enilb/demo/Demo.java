package io.enilb.demo;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;

import io.enilb.lab.CniPlugin;
import io.enilb.lab.DaemonProcess;
import io.enilb.lab.Lab;
import io.enilb.lab.Pod;
import io.enilb.lab.ServiceYaml;
import io.enilb.lab.ServiceYaml.Endpoint;

/**
 * The demo: three dual-stack pods with their own NIC (macvlan on the lab fabric), two Services
 * (hello is dual-stack: one ClusterIP per family), the real enilbd on the file source and
 * enilb-cni run for each pod. Prints which pod answered each ClusterIP from each pod, then keeps
 * everything up until Ctrl-C, which removes it all.
 */
public final class Demo {
    private static final String HELLO = "198.19.0.10";
    private static final String HELLO6 = "2001:db8:19::10";
    private static final String DNS = "198.19.0.11";

    public static void main(String[] args) throws Exception {
        long started = System.nanoTime();
        Lab lab = new Lab();
        DaemonProcess daemon = new DaemonProcess(DaemonProcess.distribution(), Map.of());
        CountDownLatch done = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("\nremoving the demo: daemon, pods, fabric, pinned maps");
            daemon.close();
            lab.close();
            done.countDown();
        }, "demo-teardown"));

        List<Pod> pods = new ArrayList<>();
        for (String name : List.of("app-a", "app-b", "app-c")) {
            Pod p = lab.macvlanPod(name, "198.18.0." + (11 + pods.size()), "2001:db8:18::" + (11 + pods.size()));
            lab.echoServer(p.namespace(), name, 8080, 5353);
            pods.add(p);
        }
        List<Endpoint> all = pods.stream().map(p -> Endpoint.ready(p.ip())).toList();
        List<Endpoint> both = pods.stream().flatMap(p -> java.util.stream.Stream.of(Endpoint.ready(p.ip()),
                Endpoint.ready(p.ip6()))).toList();
        daemon.putServices("hello.yaml", ServiceYaml.service("hello", List.of(HELLO, HELLO6), "TCP", 80, 8080, "", both));
        daemon.putServices("dns.yaml", ServiceYaml.service("dns", DNS, "UDP", 53, 5353, "", all));
        daemon.startAndAwaitReady(Duration.ofSeconds(60));
        CniPlugin cni = CniPlugin.of(DaemonProcess.distribution());
        for (Pod p : pods) {
            CniPlugin.Run r = cni.add(p, daemon.socket());
            if (r.status() != 0) {
                throw new IllegalStateException("enilb-cni ADD for " + p.name() + " failed: " + r.stdout());
            }
        }

        System.out.printf("%nenilb demo: 3 dual-stack pods with their own NIC, 2 ClusterIP Services, hello dual-stack"
                + " (up in %.1f s)%n%n", (System.nanoTime() - started) / 1e9);
        System.out.printf("%-8s %-30s | %-34s | %-34s | %-22s%n", "pod", "addresses", "hello " + HELLO + ":80 (12 req.)",
                "hello [" + HELLO6 + "]:80", "dns " + DNS + ":53/UDP");
        System.out.println("-".repeat(140));
        for (Pod p : pods) {
            Lab.Result udp = p.udp(DNS, 53);
            String dns = udp.ok() ? "by " + udp.output().strip().split(" ")[0] : "FAILED: " + udp.output().strip();
            System.out.printf("%-8s %-30s | %-34s | %-34s | %-22s%n", p.name(), p.ip() + " " + p.ip6(),
                    servedBy(p, HELLO), servedBy(p, HELLO6), dns);
        }
        Pod a = pods.get(0);
        System.out.printf("%nTry (in another terminal, as root):%n");
        System.out.printf("  nsenter --net=%s curl -s http://%s/%n", a.netns(), HELLO);
        System.out.printf("  nsenter --net=%s curl -gs http://[%s]/%n", a.netns(), HELLO6);
        System.out.printf("  %s --health 127.0.0.1:%d services%n", DaemonProcess.distribution().resolve("bin/enilbctl"),
                daemon.healthPort());
        System.out.printf("  %s --health 127.0.0.1:%d counters%n", DaemonProcess.distribution().resolve("bin/enilbctl"),
                daemon.healthPort());
        System.out.printf("  %s --health 127.0.0.1:%d flows --follow   (then the curl above)%n",
                DaemonProcess.distribution().resolve("bin/enilbctl"), daemon.healthPort());
        System.out.printf("  curl -s 127.0.0.1:%d/metrics | grep ^enilb_service%n", daemon.healthPort());
        System.out.printf("  edit or remove the Service files in %s (changes apply within a second)%n",
                daemon.configFile().getParent().resolve("services"));
        System.out.printf("  bpftool prog show name enilb_egress;  daemon log: %s%n", daemon.log());
        System.out.printf("%nCtrl-C stops the demo and removes everything.%n");
        done.await();
    }

    /** 12 requests from {@code p} to ip:80: how many went through and which pods answered. */
    private static String servedBy(Pod p, String ip) {
        Set<String> servedBy = new LinkedHashSet<>();
        int ok = 0;
        for (int i = 0; i < 12; i++) {
            Lab.Result r = p.http(ip, 80);
            if (r.ok()) {
                ok++;
                String who = r.output().split(" ")[0];
                servedBy.add(who.equals(p.name()) ? who + " (self)" : who);
            }
        }
        return String.format("%2d/12 ok, by %s", ok, String.join(", ", servedBy));
    }
}
