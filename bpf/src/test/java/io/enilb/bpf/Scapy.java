package io.enilb.bpf;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Frames built by scapy (Debian's python3-scapy, installed by integration/setup.sh): the expected
 * packets of the tables come from an implementation of the protocols that shares nothing with
 * enilb, so a packet that equals one has every checksum right by scapy's reckoning. Expressions
 * are scapy Python (see resources/scapy_frames.py for the names they may use); all of a table's
 * frames are built in one run of the interpreter.
 */
public final class Scapy {
    /** Debian's interpreter, where python3-scapy is installed (a PATH python may be another one). */
    private static final String PYTHON = "/usr/bin/python3";

    private Scapy() {
    }

    /** Builds every expression; the addresses bind POD, BE1, VIP and ROUTER in the expressions. */
    public static Map<String, byte[]> build(List<String> expressions, String pod, String be1, String vip, String router) {
        return build(expressions, Map.of("POD", pod, "BE1", be1, "VIP", vip, "ROUTER", router));
    }

    /** Builds every expression, with each of {@code names} bound to its address in the expressions. */
    public static Map<String, byte[]> build(List<String> expressions, Map<String, String> names) {
        Path script = script();
        try {
            List<String> command = new java.util.ArrayList<>(List.of(PYTHON, script.toString()));
            names.forEach((name, address) -> command.add(name + "=" + address));
            Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.PIPE).start();
            p.getOutputStream().write(String.join("\n", expressions).concat("\n").getBytes(StandardCharsets.UTF_8));
            p.getOutputStream().close();
            List<String> lines = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).lines().toList();
            String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0 || lines.size() != expressions.size()) {
                throw new IllegalStateException("scapy (" + PYTHON + " with python3-scapy, see integration/setup.sh) failed: "
                        + err.strip());
            }
            Map<String, byte[]> out = new LinkedHashMap<>();
            for (int i = 0; i < expressions.size(); i++) {
                out.put(expressions.get(i), HexFormat.of().parseHex(lines.get(i).strip()));
            }
            return out;
        } catch (IOException e) {
            throw new IllegalStateException("cannot run " + PYTHON + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        } finally {
            script.toFile().delete();
        }
    }

    private static Path script() {
        try (InputStream in = Scapy.class.getResourceAsStream("/scapy_frames.py")) {
            Path file = Files.createTempFile("enilb-scapy-", ".py");
            Files.write(file, in.readAllBytes());
            return file;
        } catch (IOException | NullPointerException e) {
            throw new IllegalStateException("test resource scapy_frames.py: " + e, e);
        }
    }
}
