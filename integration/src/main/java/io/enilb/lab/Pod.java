package io.enilb.lab;

import java.nio.file.Path;

/**
 * A pod of the lab: its namespace and its addresses on eth0, IPv4 {@code ip} and IPv6
 * {@code ip6} (either null when the pod has no address of that family).
 */
public record Pod(Lab lab, String name, String namespace, String ip, String ip6) {
    public Pod(Lab lab, String name, String namespace, String ip) {
        this(lab, name, namespace, ip, null);
    }

    public Path netns() {
        return Lab.netnsPath(namespace);
    }

    public String exec(String... command) {
        return lab.exec(namespace, command);
    }

    public Lab.Result tryExec(long timeoutSeconds, String... command) {
        return lab.tryExec(namespace, timeoutSeconds, command);
    }

    /** One HTTP GET; returns curl's status and the body (or its error). */
    public Lab.Result http(String ip, int port) {
        return tryExec(10, "curl", "-gsS", "--max-time", "5", "http://" + host(ip) + ":" + port + "/");
    }

    /** An address as the host part of a URL: IPv6 in brackets. */
    public static String host(String ip) {
        return ip.indexOf(':') >= 0 ? "[" + ip + "]" : ip;
    }

    /** Runs the lab load generator in this pod: {@code mode} and its arguments (see http_load.py). */
    public Lab.Result load(long timeoutSeconds, String... args) {
        String[] cmd = new String[args.length + 3];
        cmd[0] = "python3";
        cmd[1] = "-u";
        cmd[2] = lab.loadScript().toString();
        System.arraycopy(args, 0, cmd, 3, args.length);
        return tryExec(timeoutSeconds, cmd);
    }

    /** A holder of flows in this pod that outlive single commands (close it when done). */
    public HeldFlows flows() {
        return new HeldFlows(this);
    }

    /**
     * {@code n} short HTTP connections to ip:port, at most {@code perSecond} a second, each closed
     * by FIN ({@code rst == false}) or by RST; {"ok": n, "fail": k, "errors": [...]}.
     */
    public io.vertx.core.json.JsonObject storm(String ip, int port, int n, boolean rst, int perSecond) {
        Lab.Result r = load(600, "storm", ip, Integer.toString(port), Integer.toString(n), rst ? "rst" : "fin",
                Integer.toString(perSecond));
        if (!r.ok()) {
            throw new IllegalStateException("storm failed: " + r.output());
        }
        return new io.vertx.core.json.JsonObject(r.output().strip());
    }

    /**
     * {@code n} HTTP requests to ip:80, one connection each; which echo backend answered how
     * often: {"be1": k, ..., "fail": f}.
     */
    public io.vertx.core.json.JsonObject count(String ip, int n) {
        Lab.Result r = load(120, "count", ip, "80", Integer.toString(n));
        if (!r.ok()) {
            throw new IllegalStateException("count " + ip + " failed: " + r.output());
        }
        return new io.vertx.core.json.JsonObject(r.output().strip());
    }

    /** Runs the socket probe in this pod (see sock_probe.py): its JSON answer. */
    public io.vertx.core.json.JsonObject probe(String... args) {
        String[] cmd = new String[args.length + 3];
        cmd[0] = "python3";
        cmd[1] = "-u";
        cmd[2] = lab.sockProbeScript().toString();
        System.arraycopy(args, 0, cmd, 3, args.length);
        Lab.Result r = tryExec(20, cmd);
        if (!r.ok()) {
            throw new IllegalStateException("probe " + String.join(" ", args) + " failed: " + r.output());
        }
        return new io.vertx.core.json.JsonObject(r.output().strip());
    }

    /** One UDP datagram and its answer (2 s timeout). */
    public Lab.Result udp(String ip, int port) {
        int family = ip.indexOf(':') >= 0 ? 10 : 2; // AF_INET6, AF_INET
        return tryExec(10, "python3", "-c", "import socket;s=socket.socket(" + family + ",2);s.settimeout(2);"
                + "s.sendto(b'q',('" + ip + "'," + port + "));print(s.recv(200).decode().strip())");
    }
}
