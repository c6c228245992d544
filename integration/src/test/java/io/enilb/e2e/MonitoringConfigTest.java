package io.enilb.e2e;

import static io.enilb.lab.ServiceYaml.Endpoint.ready;
import static io.enilb.lab.ServiceYaml.service;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.enilb.lab.DaemonProcess;
import io.enilb.lab.Lab;
import io.enilb.lab.LabFixture;
import io.enilb.lab.Pod;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The monitoring files of config/: the Prometheus rules pass {@code promtool check rules} and
 * their unit tests on synthetic series ({@code promtool test rules}); every metric the rules and
 * the Grafana dashboard query is one a real daemon exports (scraped from its /metrics after a
 * pod was attached through the real plugin and a Service was used).
 */
@org.junit.jupiter.api.Tag("kernel") // root, BPF and network namespaces: left out by -DexcludedGroups=kernel
@ExtendWith(LabFixture.Extension.class)
class MonitoringConfigTest {
    private static final Path CONFIG = projectRoot().resolve("config");
    private static final Path RULES = CONFIG.resolve("prometheus/enilb-alerts.yaml");
    private static final Path RULE_TESTS = CONFIG.resolve("prometheus/enilb-alerts.test.yaml");
    private static final Path DASHBOARD = CONFIG.resolve("grafana/enilb-dashboard.json");
    private static final Pattern METRIC = Pattern.compile("\\benilb_[a-z0-9_]+\\b");
    private static final Pattern QUOTED = Pattern.compile("\"[^\"]*\"");

    static Set<String> exported;

    @BeforeAll
    static void scrapeARealDaemon(LabFixture fixture) {
        Lab lab = fixture.lab();
        Pod be = lab.pod("be", "198.18.0.21");
        Pod client = lab.macvlanPod("client", "198.18.0.10");
        lab.echoServer(be.namespace(), be.name(), 8080, 5353);
        DaemonProcess daemon = fixture.daemon(Map.of());
        daemon.putServices("web.yaml", service("web", "198.19.3.1", "TCP", 80, 8080, "", List.of(ready(be.ip()))));
        fixture.startDaemonAndAdd(client);
        await().atMost(Duration.ofSeconds(10)).until(() -> client.http("198.19.3.1", 80).ok());
        exported = metricNames(daemon.get("/metrics").body());
    }

    static Path projectRoot() {
        String dist = System.getProperty("enilb.dist");
        return dist != null ? Path.of(dist).resolve("../../..").normalize() : Path.of("..").toAbsolutePath().normalize();
    }

    /** Every sample name of a Prometheus text exposition. */
    static Set<String> metricNames(String text) {
        Set<String> names = new TreeSet<>();
        for (String line : text.lines().toList()) {
            if (!line.isBlank() && !line.startsWith("#")) {
                int end = line.indexOf('{');
                names.add(line.substring(0, end > 0 ? end : line.indexOf(' ')));
            }
        }
        return names;
    }

    /** The enilb metric names a PromQL expression reads (label values in quotes are not names). */
    static Set<String> metricsIn(String promql) {
        Set<String> names = new TreeSet<>();
        Matcher m = METRIC.matcher(QUOTED.matcher(promql).replaceAll("\"\""));
        while (m.find()) {
            names.add(m.group());
        }
        return names;
    }

    @Test
    void theRulesPassPromtoolCheckAndTheirUnitTests() throws Exception {
        assertThat(promtool("check", "rules", RULES.toString())).contains("SUCCESS");
        assertThat(promtool("test", "rules", RULE_TESTS.toString())).contains("SUCCESS");
    }

    private static String promtool(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("promtool"));
        cmd.addAll(List.of(args));
        Process p;
        try {
            p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        } catch (IOException e) {
            throw new AssertionError("promtool not found: run integration/setup.sh (Debian package prometheus)", e);
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as("promtool %s:\n%s", String.join(" ", args), out).isZero();
        return out;
    }

    @Test
    void everyMetricTheRulesQueryIsExported() throws IOException {
        List<String> exprs = new ArrayList<>();
        boolean inExpr = false;
        StringBuilder current = new StringBuilder();
        for (String line : Files.readAllLines(RULES)) {
            String trimmed = line.trim();
            if (trimmed.startsWith("expr:")) {
                flush(exprs, current);
                current.append(trimmed.substring(5));
                inExpr = true;
            } else if (inExpr && (trimmed.startsWith("for:") || trimmed.startsWith("labels:")
                    || trimmed.startsWith("- alert:"))) {
                flush(exprs, current);
                inExpr = false;
            } else if (inExpr && !trimmed.startsWith("#")) {
                current.append(' ').append(trimmed);
            }
        }
        flush(exprs, current);
        assertThat(exprs).hasSizeGreaterThanOrEqualTo(10);
        for (String expr : exprs) {
            assertThat(metricsIn(expr)).as("metrics of rule %s", expr).isNotEmpty();
            assertThat(exported).as("exported metrics, for rule %s", expr).containsAll(metricsIn(expr));
        }
    }

    private static void flush(List<String> exprs, StringBuilder current) {
        if (!current.isEmpty()) {
            exprs.add(current.toString().trim());
            current.setLength(0);
        }
    }

    @Test
    void everyDashboardQueryNamesAnExportedMetric() throws IOException {
        JsonObject dashboard = new JsonObject(Files.readString(DASHBOARD));
        JsonArray panels = dashboard.getJsonArray("panels");
        assertThat(panels).isNotEmpty();
        Set<Integer> ids = new TreeSet<>();
        int queries = 0;
        for (int i = 0; i < panels.size(); i++) {
            JsonObject panel = panels.getJsonObject(i);
            assertThat(ids.add(panel.getInteger("id"))).as("panel id %s unique", panel.getInteger("id")).isTrue();
            assertThat(panel.getJsonObject("datasource").getString("uid")).isEqualTo("${datasource}");
            JsonArray targets = panel.getJsonArray("targets");
            assertThat(targets).as("targets of panel %s", panel.getString("title")).isNotEmpty();
            for (int t = 0; t < targets.size(); t++) {
                String expr = targets.getJsonObject(t).getString("expr");
                assertThat(metricsIn(expr)).as("metrics of %s: %s", panel.getString("title"), expr).isNotEmpty();
                assertThat(exported).as("exported metrics, for panel %s: %s", panel.getString("title"), expr)
                        .containsAll(metricsIn(expr));
                queries++;
            }
        }
        String instances = dashboard.getJsonObject("templating").getJsonArray("list").getJsonObject(1)
                .getString("definition");
        assertThat(exported).containsAll(metricsIn(instances));
        assertThat(queries).isGreaterThanOrEqualTo(20);
    }
}
