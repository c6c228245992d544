package io.enilb.flows;

import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.EnumSet;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.enilb.bus.Flow;
import io.enilb.model.ServiceKey;
import io.vertx.core.MultiMap;

/**
 * The filters of {@code GET /v1/flows}: {@code pod} (container id, or a prefix of it, or the
 * pod's address), {@code service} (namespace/name), {@code verdict} (new, reject, drop; comma
 * separated), {@code since} (an ISO-8601 instant, or an age such as 30s, 5m, 2h).
 */
record FlowFilter(String pod, String service, Set<Flow.Verdict> verdicts, Instant since) {
    private static final Pattern AGE = Pattern.compile("(\\d{1,9})(s|m|h)");

    /** @throws IllegalArgumentException naming the parameter that is wrong and why */
    static FlowFilter parse(MultiMap params, Instant now) {
        String pod = params.get("pod");
        if (pod != null && pod.isBlank()) {
            throw new IllegalArgumentException("pod: empty");
        }
        String service = params.get("service");
        if (service != null) {
            try {
                service = ServiceKey.parse(service).toString();
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("service: " + e.getMessage());
            }
        }
        Set<Flow.Verdict> verdicts = EnumSet.allOf(Flow.Verdict.class);
        if (params.contains("verdict")) {
            verdicts = EnumSet.noneOf(Flow.Verdict.class);
            for (String value : params.getAll("verdict")) {
                for (String one : value.split(",")) {
                    try {
                        verdicts.add(Flow.Verdict.parse(one.trim()));
                    } catch (IllegalArgumentException e) {
                        throw new IllegalArgumentException("verdict: " + e.getMessage());
                    }
                }
            }
        }
        return new FlowFilter(pod, service, verdicts, since(params.get("since"), now));
    }

    private static Instant since(String text, Instant now) {
        if (text == null) {
            return Instant.MIN;
        }
        Matcher age = AGE.matcher(text);
        if (age.matches()) {
            long n = Long.parseLong(age.group(1));
            Duration d = switch (age.group(2)) {
                case "s" -> Duration.ofSeconds(n);
                case "m" -> Duration.ofMinutes(n);
                default -> Duration.ofHours(n);
            };
            return now.minus(d);
        }
        try {
            return Instant.parse(text);
        } catch (DateTimeParseException e) {
            throw new IllegalArgumentException("since: an ISO-8601 instant (2026-11-28T18:00:00Z) or an age "
                    + "(30s, 5m, 2h), not " + text);
        }
    }

    boolean matches(Flow f) {
        return verdicts.contains(f.verdict())
                && (service == null || service.equals(f.service()))
                && (pod == null || f.client().equals(pod) || (!f.pod().isEmpty() && f.pod().startsWith(pod)))
                && !f.time().isBefore(since);
    }
}
