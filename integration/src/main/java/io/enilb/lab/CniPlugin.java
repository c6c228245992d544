package io.enilb.lab;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** The packaged enilb-cni, run the way a container runtime runs it: CNI_* environment, config on stdin. */
public final class CniPlugin {
    private final Path executable;
    /** The environment besides the CNI_* variables; null: this process's. */
    private final Map<String, String> environment;

    public CniPlugin(Path executable) {
        this(executable, null);
    }

    private CniPlugin(Path executable, Map<String, String> environment) {
        this.executable = executable;
        this.environment = environment;
    }

    /**
     * The same plugin run with only {@code PATH} in its environment (no JAVA_HOME, nothing else),
     * as on a node without Java when {@code path} holds no java.
     */
    public CniPlugin withOnlyPath(String path) {
        return new CniPlugin(executable, Map.of("PATH", path));
    }

    /** The same plugin with {@code variables} added to the environment it runs with. */
    public CniPlugin withEnvironment(Map<String, String> variables) {
        Map<String, String> env = new HashMap<>(environment == null ? System.getenv() : environment);
        env.putAll(variables);
        return new CniPlugin(executable, env);
    }

    /** bin/enilb-cni of the distribution. */
    public static CniPlugin of(Path distribution) {
        return new CniPlugin(distribution.resolve("bin/enilb-cni"));
    }

    /** What the plugin printed on stdout and its exit status. */
    public record Run(int status, String stdout) {
    }

    public Run run(String command, String containerId, String netns, String ifName, String config) {
        ProcessBuilder pb = new ProcessBuilder(executable.toString());
        if (environment != null) {
            pb.environment().clear();
            pb.environment().putAll(environment);
        }
        pb.environment().put("CNI_COMMAND", command);
        pb.environment().put("CNI_CONTAINERID", containerId);
        pb.environment().put("CNI_NETNS", netns);
        pb.environment().put("CNI_IFNAME", ifName);
        pb.environment().put("CNI_PATH", "/opt/cni/bin");
        try {
            Process p = pb.redirectError(ProcessBuilder.Redirect.DISCARD).start();
            p.getOutputStream().write(config.getBytes(StandardCharsets.UTF_8));
            p.getOutputStream().close();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return new Run(-1, "timed out");
            }
            return new Run(p.exitValue(), out.strip());
        } catch (IOException e) {
            return new Run(-1, e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Run(-1, "interrupted");
        }
    }

    /** ADD for a lab pod whose NIC (eth0) an earlier plugin made; prevResult carries its address. */
    public Run add(Pod pod, Path socket) {
        return run("ADD", containerId(pod), pod.netns().toString(), "eth0", config(pod, socket));
    }

    public Run del(Pod pod, Path socket) {
        return run("DEL", containerId(pod), pod.netns().toString(), "eth0", config(pod, socket));
    }

    public static String containerId(Pod pod) {
        return pod.name() + "-" + pod.namespace();
    }

    /**
     * A chained config as the runtime hands it to enilb: its own entry plus the previous plugin's
     * result, with each of the pod's addresses (IPv4, IPv6 or both).
     */
    public static String config(Pod pod, Path socket) {
        List<String> ips = new ArrayList<>();
        if (pod.ip() != null) {
            ips.add(ip(pod.ip() + "/" + Lab.POD_PREFIX_LEN, Lab.GATEWAY));
        }
        if (pod.ip6() != null) {
            ips.add(ip(pod.ip6() + "/" + Lab.POD_PREFIX_LEN6, Lab.GATEWAY6));
        }
        return "{\"cniVersion\":\"1.1.0\",\"name\":\"lab\",\"type\":\"enilb\",\"socket\":\"" + socket + "\","
                + "\"prevResult\":{\"cniVersion\":\"1.1.0\",\"interfaces\":[{\"name\":\"eth0\",\"sandbox\":\""
                + pod.netns() + "\"}],\"ips\":[" + String.join(",", ips) + "]}}";
    }

    private static String ip(String cidr, String gateway) {
        return "{\"address\":\"" + cidr + "\",\"interface\":0,\"gateway\":\"" + gateway + "\"}";
    }
}
