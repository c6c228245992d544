package io.enilb.lab;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/**
 * A small cloud in network namespaces. The fabric namespace holds a bridge and routes like a
 * VPC router (it owns 198.18.0.1); an independent-NIC pod is a namespace whose eth0 is a veth
 * end plugged straight into that bridge, so nothing of a node's stack is on its path. Names are
 * unique per lab; {@link #close()} (also run on JVM shutdown, e.g. Ctrl-C) removes everything.
 * Test traffic stays in 198.18.0.0/16 (pods) and 198.19.0.0/16 (Service IPs); the fabric routes
 * IPv6 too, pods in 2001:db8:18::/64 (the router owns 2001:db8:18::1) and Service IPs in
 * 2001:db8:19::/108 (documentation prefix). IPv6 addresses skip duplicate address detection so
 * that they are usable at once.
 */
public final class Lab implements AutoCloseable {
    public static final String GATEWAY = "198.18.0.1";
    public static final String POD_PREFIX_LEN = "16";
    public static final String GATEWAY6 = "2001:db8:18::1";
    public static final String POD_PREFIX_LEN6 = "64";

    private final String id = UUID.randomUUID().toString().substring(0, 6);
    private final String fabric = "enl" + id + "-fab";
    private final List<String> namespaces = Collections.synchronizedList(new ArrayList<>());
    private final List<Process> processes = Collections.synchronizedList(new ArrayList<>());
    private final Thread cleanupOnExit = new Thread(this::removeEverything, "lab-cleanup");
    private int vethCount;
    private boolean trunk;

    public Lab() {
        Runtime.getRuntime().addShutdownHook(cleanupOnExit);
        try {
            addNamespace(fabric);
            noDad(fabric);
            exec(fabric, "ip", "link", "add", "br0", "type", "bridge");
            exec(fabric, "ip", "addr", "add", GATEWAY + "/" + POD_PREFIX_LEN, "dev", "br0");
            exec(fabric, "ip", "addr", "add", GATEWAY6 + "/" + POD_PREFIX_LEN6, "dev", "br0", "nodad");
            exec(fabric, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1");
            exec(fabric, "ip", "link", "set", "br0", "up");
            exec(fabric, "ip", "link", "set", "lo", "up");
            exec(fabric, "sysctl", "-qw", "net.ipv4.ip_forward=1");
            // a router that sends ICMP redirects would teach pods to bypass it
            exec(fabric, "sysctl", "-qw", "net.ipv4.conf.all.send_redirects=0");
            exec(fabric, "sysctl", "-qw", "net.ipv4.conf.br0.send_redirects=0");
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** The lab's unique id, part of every namespace name. */
    public String id() {
        return id;
    }

    public String fabric() {
        return fabric;
    }

    /** A pod with its own NIC: eth0 (a veth end) plugged into the fabric, {@code ip}/16, default route via the router. */
    public Pod pod(String name, String ip) {
        return pod(name, ip, null);
    }

    /**
     * A pod with its own NIC plugged into the fabric: IPv4 {@code ip}/16 and IPv6 {@code ip6}/64
     * (either may be null: an IPv6-only or IPv4-only pod), default routes via the router.
     */
    public Pod pod(String name, String ip, String ip6) {
        String ns = "enl" + id + "-" + name;
        addNamespace(ns);
        noDad(ns);
        String outside = "v" + id + (vethCount++);
        exec(fabric, "ip", "link", "add", outside, "type", "veth", "peer", "name", "eth0", "netns", netnsPath(ns).toString());
        exec(fabric, "ip", "link", "set", outside, "master", "br0", "up");
        exec(ns, "ip", "link", "set", "lo", "up");
        Pod pod = new Pod(this, name, ns, ip, ip6);
        address(pod);
        exec(ns, "ip", "link", "set", "eth0", "up");
        defaultRoutes(pod);
        return pod;
    }

    /** Puts the pod's addresses on its eth0. */
    private void address(Pod pod) {
        if (pod.ip() != null) {
            exec(pod.namespace(), "ip", "addr", "add", pod.ip() + "/" + POD_PREFIX_LEN, "dev", "eth0");
        }
        if (pod.ip6() != null) {
            exec(pod.namespace(), "ip", "addr", "add", pod.ip6() + "/" + POD_PREFIX_LEN6, "dev", "eth0", "nodad");
        }
    }

    /** Default routes of the pod's families via the router. */
    private void defaultRoutes(Pod pod) {
        if (pod.ip() != null) {
            exec(pod.namespace(), "ip", "route", "add", "default", "via", GATEWAY);
        }
        if (pod.ip6() != null) {
            exec(pod.namespace(), "ip", "-6", "route", "add", "default", "via", GATEWAY6);
        }
    }

    /**
     * No duplicate address detection in a new namespace (for devices made later, too): an
     * address in DAD is "tentative" and unusable for a second or more, and the lab's addresses
     * are unique by construction.
     */
    private void noDad(String ns) {
        exec(ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0");
        exec(ns, "sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0");
    }

    /**
     * {@code n} backend pods be1..beN at 198.18.0.21.. with the lab echo server (HTTP on 8080,
     * datagrams on 5353), each answering with its name.
     */
    public List<Pod> echoBackends(int n) {
        List<Pod> backends = new ArrayList<>();
        for (int i = 1; i <= n; i++) {
            Pod p = pod("be" + i, "198.18.0." + (20 + i));
            echoServer(p.namespace(), p.name(), 8080, 5353);
            backends.add(p);
        }
        return backends;
    }

    /**
     * A pod namespace with no NIC yet: a CNI plugin (macvlan, then enilb) gives it one. Its
     * macvlan parent is {@link #macvlanParent()}, a trunk into the fabric's bridge.
     */
    public Pod emptyPod(String name, String ip) {
        return emptyPod(name, ip, null);
    }

    /** {@link #emptyPod(String, String)} with an IPv6 address too (either may be null). */
    public Pod emptyPod(String name, String ip, String ip6) {
        String ns = "enl" + id + "-" + name;
        addNamespace(ns);
        noDad(ns);
        exec(ns, "ip", "link", "set", "lo", "up");
        return new Pod(this, name, ns, ip, ip6);
    }

    /**
     * A pod whose NIC is a macvlan device on the fabric's trunk, the way the macvlan CNI plugin
     * makes one: created on the parent, moved into the pod, addressed there.
     */
    public Pod macvlanPod(String name, String ip) {
        return macvlanPod(name, ip, null);
    }

    /** {@link #macvlanPod(String, String)} with an IPv6 address too (either may be null). */
    public Pod macvlanPod(String name, String ip, String ip6) {
        Pod pod = emptyPod(name, ip, ip6);
        String dev = "m" + id + (vethCount++);
        exec(fabric, "ip", "link", "add", dev, "link", macvlanParent(), "type", "macvlan", "mode", "bridge");
        exec(fabric, "ip", "link", "set", dev, "netns", pod.netns().toString());
        exec(pod.namespace(), "ip", "link", "set", dev, "name", "eth0");
        address(pod);
        exec(pod.namespace(), "ip", "link", "set", "eth0", "up");
        defaultRoutes(pod);
        return pod;
    }

    /**
     * A shared-NIC pod, for comparison: the pod's veth leads to a "node" namespace that routes it
     * (and can hold kube-proxy-style rules), and the node sits on the fabric at
     * 198.18.0.{nodeHost}. The pod is 198.18.{subnet}.10/24 behind the node's 198.18.{subnet}.1.
     * The fabric's router sends the subnet to the node; a fabric pod that must answer the
     * shared-NIC pod needs {@link #routeToSharedNic} (the subnet lies inside its on-link /16).
     */
    public SharedNic sharedNicPod(String name, int nodeHost, int subnet) {
        String nodeIp = "198.18.0." + nodeHost;
        Pod node = pod("node" + name, nodeIp);
        Pod pod = emptyPod("pod" + name, "198.18." + subnet + ".10");
        node.exec("sysctl", "-qw", "net.ipv4.ip_forward=1");
        node.exec("sysctl", "-qw", "net.ipv4.conf.all.send_redirects=0");
        node.exec("ip", "link", "add", "pod0", "type", "veth", "peer", "name", "eth0", "netns", pod.netns().toString());
        node.exec("ip", "addr", "add", "198.18." + subnet + ".1/24", "dev", "pod0");
        node.exec("ip", "link", "set", "pod0", "up");
        pod.exec("ip", "addr", "add", pod.ip() + "/24", "dev", "eth0");
        pod.exec("ip", "link", "set", "eth0", "up");
        pod.exec("ip", "route", "add", "default", "via", "198.18." + subnet + ".1");
        SharedNic shared = new SharedNic(node, pod, "198.18." + subnet + ".0/24");
        exec(fabric, "ip", "route", "add", shared.subnet(), "via", nodeIp);
        return shared;
    }

    /**
     * A pod behind a router of its own, one hop beyond the fabric: the router sits on the fabric
     * at 198.18.0.{routerHost} and routes 198.18.{subnet}.0/24, where the pod is .10. The
     * router's side of the link to the pod has MTU {@code linkMtu}, while the pod's own NIC keeps
     * 1500: the pod advertises an MSS the path cannot carry, so only path-MTU discovery (the
     * router's "fragmentation needed") can get full-sized segments through. A fabric pod reaches
     * the subnet through {@link #routeToSharedNic}.
     */
    public SharedNic routedPod(String name, int routerHost, int subnet, int linkMtu) {
        SharedNic routed = sharedNicPod(name, routerHost, subnet);
        routed.node().exec("ip", "link", "set", "pod0", "mtu", Integer.toString(linkMtu));
        return routed;
    }

    /** A node namespace and the shared-NIC pod it routes. */
    public record SharedNic(Pod node, Pod pod, String subnet) {
    }

    /** Lets {@code from} (a fabric pod) reach the shared-NIC pod's subnet through its node. */
    public void routeToSharedNic(Pod from, SharedNic shared) {
        from.exec("ip", "route", "add", shared.subnet(), "via", shared.node().ip());
    }

    /** In the fabric: "trunk", a veth whose peer is a port of the bridge; macvlan NICs hang off it. */
    public synchronized String macvlanParent() {
        if (!trunk) {
            exec(fabric, "ip", "link", "add", "trunk", "type", "veth", "peer", "name", "uplink");
            exec(fabric, "ip", "link", "set", "uplink", "master", "br0", "up");
            exec(fabric, "ip", "link", "set", "trunk", "up");
            trunk = true;
        }
        return "trunk";
    }

    public static Path netnsPath(String ns) {
        return Path.of("/run/netns", ns);
    }

    private void addNamespace(String ns) {
        run(List.of("ip", "netns", "add", ns));
        namespaces.add(ns);
    }

    /** Runs a command inside {@code ns}; throws with its output when it fails. */
    public String exec(String ns, String... command) {
        return run(inNamespace(ns, command));
    }

    /** Runs a command inside {@code ns} and returns its exit status and output, failing or not. */
    public Result tryExec(String ns, long timeoutSeconds, String... command) {
        return runTimed(inNamespace(ns, command), timeoutSeconds);
    }

    /**
     * Starts a long-running process inside {@code ns}; it is killed on close. When {@code readyLine}
     * is not null, waits (at most 10 s) until the process prints it.
     */
    public Process spawn(String ns, String readyLine, String... command) {
        try {
            Process p = new ProcessBuilder(inNamespace(ns, command)).redirectErrorStream(true).start();
            processes.add(p);
            if (readyLine != null) {
                awaitLine(p, readyLine);
            }
            return p;
        } catch (IOException e) {
            throw new IllegalStateException("cannot start " + String.join(" ", command) + ": " + e.getMessage(), e);
        }
    }

    /**
     * Starts a process inside {@code ns} whose stdin and stdout the caller talks to (stderr goes
     * to this JVM's); it is killed on close.
     */
    public Process interactive(String ns, String... command) {
        try {
            Process p = new ProcessBuilder(inNamespace(ns, command)).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            processes.add(p);
            return p;
        } catch (IOException e) {
            throw new IllegalStateException("cannot start " + String.join(" ", command) + ": " + e.getMessage(), e);
        }
    }

    /** The socket probe (resources/lab/sock_probe.py), for {@link Pod#probe}. */
    public Path sockProbeScript() {
        return script("sock_probe.py");
    }

    /**
     * Starts tcpdump on {@code device} in {@code ns} with a BPF {@code filter}; {@link Capture#stop}
     * ends it and returns the packets as tcpdump prints them (-nn, one line each).
     */
    public Capture capture(String ns, String device, String filter) {
        try {
            Path file = Files.createTempFile("enilb-lab-", ".pcap");
            file.toFile().deleteOnExit();
            Process p = spawn(ns, "listening on", "tcpdump", "-i", device, "-nn", "--immediate-mode", "-U", "-w",
                    file.toString(), filter);
            return new Capture(this, ns, p, file);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A running capture (see {@link #capture}). */
    public record Capture(Lab lab, String ns, Process process, Path file) {
        /** The pcap file's global header; anything beyond it is a packet. */
        private static final long PCAP_HEADER = 24;

        /**
         * Stops the capture once it holds a packet (at most 3 s: tcpdump writes asynchronously)
         * and returns the captured packets.
         */
        public List<String> stop() {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(3);
            while (file.toFile().length() <= PCAP_HEADER && System.nanoTime() < deadline) {
                try {
                    Thread.sleep(20);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            process.destroy();
            try {
                process.waitFor(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return lab.exec(ns, "tcpdump", "-nn", "-r", file.toString()).lines()
                    .filter(l -> !l.startsWith("reading from")).toList();
        }
    }

    /** The lab flow holder (resources/lab/flows.py), for {@link HeldFlows}. */
    public Path flowsScript() {
        return script("flows.py");
    }

    /** Drains the process's output on a thread (a full pipe would block it) and waits for {@code line}. */
    private static void awaitLine(Process p, String line) {
        java.util.concurrent.CompletableFuture<Void> seen = new java.util.concurrent.CompletableFuture<>();
        Thread drain = new Thread(() -> {
            try (BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                String l;
                while ((l = out.readLine()) != null) {
                    if (l.contains(line)) {
                        seen.complete(null);
                    }
                }
            } catch (IOException e) {
                // the process ended
            }
            seen.completeExceptionally(new IllegalStateException("process ended before printing '" + line + "'"));
        }, "lab-output");
        drain.setDaemon(true);
        drain.start();
        try {
            seen.get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IllegalStateException("process did not print '" + line + "' within 10 s: " + e.getMessage(), e);
        }
    }

    /** Starts the lab echo server (HTTP on tcpPort, datagrams on udpPort) in {@code ns}. */
    public Process echoServer(String ns, String name, int tcpPort, int udpPort) {
        return spawn(ns, "ready", "python3", "-u", script("echo_server.py").toString(), name,
                Integer.toString(tcpPort), Integer.toString(udpPort));
    }

    /** The lab load generator (resources/lab/http_load.py), for {@link Pod#load}. */
    public Path loadScript() {
        return script("http_load.py");
    }

    private final java.util.Map<String, Path> scripts = new java.util.concurrent.ConcurrentHashMap<>();

    /** A script of resources/lab written to a temp file once per lab. */
    private Path script(String name) {
        return scripts.computeIfAbsent(name, Lab::extract);
    }

    private static Path extract(String name) {
        try (InputStream in = Lab.class.getResourceAsStream("/lab/" + name)) {
            if (in == null) {
                throw new IllegalStateException("missing resource /lab/" + name);
            }
            Path file = Files.createTempFile("enilb-lab-", "-" + name);
            Files.write(file, in.readAllBytes());
            file.toFile().deleteOnExit();
            return file;
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** nsenter rather than ip netns exec: the latter remounts /sys and hides /sys/fs/bpf pins. */
    private static List<String> inNamespace(String ns, String... command) {
        List<String> full = new ArrayList<>(List.of("nsenter", "--net=" + netnsPath(ns)));
        full.addAll(List.of(command));
        return full;
    }

    /** Runs a command on the host (this process's namespaces) and returns its status and output. */
    public static Result onHost(long timeoutSeconds, String... command) {
        return runTimed(List.of(command), timeoutSeconds);
    }

    /** Exit status and combined output of a command. */
    public record Result(int status, String output) {
        public boolean ok() {
            return status == 0;
        }
    }

    private static String run(List<String> command) {
        Result r = runTimed(command, 30);
        if (!r.ok()) {
            throw new IllegalStateException(String.join(" ", command) + " failed (" + r.status + "): " + r.output.strip());
        }
        return r.output;
    }

    private static Result runTimed(List<String> command, long timeoutSeconds) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            p.getOutputStream().close();
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return new Result(-1, "timed out after " + timeoutSeconds + " s");
            }
            return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8));
        } catch (IOException e) {
            return new Result(-1, e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Result(-1, "interrupted");
        }
    }

    /** The namespaces this lab made that still exist. */
    public List<String> remainingNamespaces() {
        String all = run(List.of("ip", "netns", "list"));
        return all.lines().map(l -> l.split(" ")[0]).filter(n -> n.startsWith("enl" + id)).toList();
    }

    private synchronized void removeEverything() {
        for (Process p : List.copyOf(processes)) {
            // the parent first: a server's master (nginx) would replace a worker killed before it
            List<ProcessHandle> children = p.descendants().toList();
            p.destroyForcibly();
            children.forEach(ProcessHandle::destroyForcibly);
        }
        processes.clear();
        List<String> ns = new ArrayList<>(namespaces);
        Collections.reverse(ns);
        for (String n : ns) {
            runTimed(List.of("ip", "netns", "del", n), 10);
        }
        namespaces.clear();
    }

    @Override
    public void close() {
        removeEverything();
        try {
            Runtime.getRuntime().removeShutdownHook(cleanupOnExit);
        } catch (IllegalStateException shuttingDown) {
            // the hook is running or has run
        }
    }
}
