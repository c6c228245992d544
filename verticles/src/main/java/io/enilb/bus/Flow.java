package io.enilb.bus;

import java.time.Instant;
import java.util.Locale;
import java.util.Objects;

import io.enilb.model.IpFamily;
import io.vertx.core.json.JsonObject;

/**
 * One flow event of the datapath as enilbd tells it: what happened to a pod's new flow to a
 * Service frontend, with names. Published on {@link Addresses#FLOWS}.
 *
 * @param time         when the datapath saw the packet (wall clock)
 * @param verdict      what happened
 * @param reason       REJECT / DROP: the drop reason (NO_BACKEND, CT_FULL, SPOOFED ...), else ""
 * @param via          NEW: how the backend was chosen (random, affinity), else ""
 * @param pod          the pod's container id, "" when no attached pod has that address
 * @param client       the pod's address
 * @param clientPort   the pod's port
 * @param service      namespace/name, "" when no Service has that frontend (anymore)
 * @param frontend     the ClusterIP
 * @param frontendPort the Service port
 * @param protocol     tcp, udp
 * @param backend      NEW: the chosen backend's address, else ""
 * @param backendPort  NEW: its port, else 0
 * @param netnsCookie  the pod's network namespace cookie
 */
public record Flow(Instant time, Verdict verdict, String reason, String via, String pod, String client, int clientPort,
                   String service, String frontend, int frontendPort, String protocol, String backend, int backendPort,
                   long netnsCookie) {
    /** What happened to the flow. */
    public enum Verdict {
        /** the flow got a backend */
        NEW,
        /** no endpoints: answered with ICMP port unreachable (an IPv6 TCP SYN: with a reset) */
        REJECT,
        /** refused: see the reason */
        DROP;

        public String label() {
            return name().toLowerCase(Locale.ROOT);
        }

        /** @throws IllegalArgumentException naming the accepted values */
        public static Verdict parse(String text) {
            for (Verdict v : values()) {
                if (v.label().equals(text.toLowerCase(Locale.ROOT))) {
                    return v;
                }
            }
            throw new IllegalArgumentException("verdict must be new, reject or drop, not " + text);
        }
    }

    public Flow {
        Objects.requireNonNull(time, "time");
        Objects.requireNonNull(verdict, "verdict");
        Objects.requireNonNull(reason, "reason");
        Objects.requireNonNull(via, "via");
        Objects.requireNonNull(pod, "pod");
        Objects.requireNonNull(client, "client");
        Objects.requireNonNull(service, "service");
        Objects.requireNonNull(frontend, "frontend");
        Objects.requireNonNull(protocol, "protocol");
        Objects.requireNonNull(backend, "backend");
    }

    /** The JSON of {@code GET /v1/flows} (one object per event). */
    public JsonObject toJson() {
        JsonObject json = new JsonObject()
                .put("time", time.toString())
                .put("verdict", verdict.label())
                .put("pod", pod)
                .put("client", IpFamily.withPort(client, clientPort))
                .put("service", service)
                .put("frontend", IpFamily.withPort(frontend, frontendPort) + "/" + protocol);
        if (verdict == Verdict.NEW) {
            json.put("backend", IpFamily.withPort(backend, backendPort)).put("via", via);
        } else {
            json.put("reason", reason);
        }
        return json.put("netnsCookie", Long.toUnsignedString(netnsCookie));
    }
}
