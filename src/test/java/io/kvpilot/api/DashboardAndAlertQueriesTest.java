package io.kvpilot.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvpilot.serving.Scheduler;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.http.MediaType;
import org.springframework.test.web.reactive.server.WebTestClient;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Every PromQL expression the project ships — each Grafana panel's query in {@code grafana/} and each recording and
 * alerting rule in {@code alerts/kvpilot-rules.yaml} — evaluated by a real Prometheus that scraped the running
 * service (real model) through a short load. A panel must return data and a rule's series must exist, unless a
 * metric it reads is listed in {@link #WAITING} with the reason it is not exported yet.
 */
@RealModelServingTest
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DashboardAndAlertQueriesTest {

    /**
     * Metrics (and the {@code model_name} label) that dashboards and alerts read before the service exports them.
     * When one lands, delete its line: {@link #waitingListHoldsOnlyWhatIsStillMissing} fails while a listed metric
     * is already exported.
     */
    static final Map<String, String> WAITING = Map.ofEntries(
            Map.entry("kube_pod_status_ready", "kube-state-metrics' series: exists only in a Kubernetes cluster"));

    private static final Pattern METRIC = Pattern.compile(
            "\\b(?:(?:kvpilot|resilience4j|jvm|process|system|http_server|kube)_[A-Za-z0-9_]+|kvpilot:[A-Za-z0-9_:]+"
                    + "|up(?=\\{))");

    private static final Duration SCRAPE_WAIT = Duration.ofSeconds(60);

    @LocalServerPort
    int port;

    @Autowired
    WebTestClient client;

    @Autowired
    Scheduler scheduler;

    @TempDir
    static Path dir;

    private PrometheusServer prometheus;
    private final JsonMapper json = JsonMapper.builder().build();

    @BeforeAll
    void scrapeAShortLoad() throws Exception {
        long readyBy = System.nanoTime() + SCRAPE_WAIT.toNanos();
        while (!scheduler.isReady()) {
            assertThat(System.nanoTime()).as("service ready (model loaded and warmed)").isLessThan(readyBy);
            Thread.sleep(50);
        }
        prometheus = PrometheusServer.scraping(port, dir);
        prometheus.awaitAtLeast("up{job=\"kvpilot\"}", 1, SCRAPE_WAIT);
        // finished requests, with and without compression; then refusals: 400, 401, 413
        for (String compression : List.of("\"off\"", "{\"method\": \"snapkv\", \"ratio\": 0.5}",
                "{\"method\": \"streaming_llm\", \"ratio\": 0.25, \"bits\": 8}", "\"auto\"")) {
            complete("{\"prompt\": \"Once upon a time there was a small robot\", \"max_tokens\": 8,"
                    + " \"temperature\": 0, \"kv_compression\": " + compression + "}", "test-key", 200);
        }
        complete("{\"prompt\": \"x\", \"max_tokens\": -1}", "test-key", 400);
        complete("{\"prompt\": \"x\"}", "wrong-key", 401);
        // longer than the embedded model's 2,048-position context
        complete("{\"prompt\": \"" + "story time ".repeat(2100) + "\"}", "test-key", 413);
        prometheus.awaitAtLeast("sum(kvpilot_request_success_total)", 4, SCRAPE_WAIT);
        prometheus.awaitAtLeast("sum(kvpilot_admission_rejections_total{reason=\"too_long\"})", 1, SCRAPE_WAIT);
        prometheus.awaitAtLeast("count(kvpilot_kv_compression_ratio_bucket)", 1, SCRAPE_WAIT);
        // a rate needs the counters to grow between two scrapes: a second round once Prometheus holds the first
        for (String compression : List.of("{\"method\": \"snapkv\", \"ratio\": 0.5}", "\"auto\"")) {
            complete("{\"prompt\": \"Once upon a time there was a small robot\", \"max_tokens\": 8,"
                    + " \"temperature\": 0, \"kv_compression\": " + compression + "}", "test-key", 200);
        }
        prometheus.awaitAtLeast("sum(rate(kvpilot_kv_compression_ratio_count[5m])) > bool 0", 1, SCRAPE_WAIT);
        prometheus.awaitAtLeast("sum(rate(kvpilot_engine_step_seconds_count[5m])) > bool 0", 1, SCRAPE_WAIT);
        prometheus.awaitAtLeast("sum(rate(kvpilot_request_success_total[5m])) > bool 0", 1, SCRAPE_WAIT);
        // the JVM panels rate GC pauses: the service runs in this JVM, so collections between scrapes give them a
        // rate (a quiet service may not collect within the test)
        for (int i = 0; i < 40 && !hasData(prometheus.query("sum(rate(jvm_gc_pause_seconds_count[5m])) > 0")
                .path("result")); i++) {
            System.gc();
            Thread.sleep(1_500);
        }
    }

    @AfterAll
    void stopPrometheus() throws InterruptedException {
        if (prometheus != null) {
            prometheus.close();
        }
    }

    @Test
    void everyDashboardPanelReturnsDataOrWaitsForAListedMetric() throws Exception {
        List<String> failures = new ArrayList<>();
        int evaluated = 0;
        for (Map.Entry<String, String> query : panelQueries().entrySet()) {
            evaluated++;
            String promql = withVariables(query.getValue());
            JsonNode result = prometheus.query(promql).path("result");
            if (hasData(result)) {
                continue;
            }
            Set<String> waitingFor = waitingMetrics(promql);
            if (waitingFor.isEmpty()) {
                failures.add(query.getKey() + ": no data for " + promql);
            } else {
                System.out.printf("waiting: %s (%s)%n", query.getKey(), waitingFor);
            }
        }
        assertThat(evaluated).isGreaterThanOrEqualTo(45);
        assertThat(failures).isEmpty();
    }

    @Test
    void everyRuleIsValidPromqlOverSeriesTheServiceExports() throws Exception {
        // the rules file is YAML; Jackson 2's YAML module is on the test class path (fabric8 and the chart tests)
        JsonNode groups = json.readTree(new com.fasterxml.jackson.dataformat.yaml.YAMLMapper()
                .readTree(Path.of("alerts/kvpilot-rules.yaml").toFile()).toString()).path("groups");
        Set<String> recorded = new LinkedHashSet<>();
        List<JsonNode> rules = new ArrayList<>();
        groups.forEach(group -> group.path("rules").forEach(rule -> {
            rules.add(rule);
            if (rule.has("record")) {
                recorded.add(rule.path("record").asText());
            }
        }));
        List<String> failures = new ArrayList<>();
        for (JsonNode rule : rules) {
            String name = rule.has("alert") ? rule.path("alert").asText() : rule.path("record").asText();
            String expr = rule.path("expr").asText();
            prometheus.query(expr); // fails on invalid PromQL
            for (String metric : metricsIn(expr)) {
                if (metric.contains(":")) {
                    if (!recorded.contains(metric)) {
                        failures.add(name + ": reads " + metric + ", which no rule records");
                    }
                } else if (!prometheus.hasSeries(metric) && !WAITING.containsKey(metric)) {
                    failures.add(name + ": no series " + metric);
                }
            }
        }
        assertThat(rules).hasSizeGreaterThanOrEqualTo(20);
        assertThat(failures).isEmpty();
    }

    @Test
    void ruleSelectorsOnHistogramBoundariesMatchStoredBuckets() throws Exception {
        // the TTFT/TPOT objectives name a bucket boundary; a boundary the histogram lacks would make the burn 100%
        assertThat(hasData(prometheus.query(
                "kvpilot_time_to_first_token_seconds_bucket{le=\"2.147483647\"}").path("result"))).isTrue();
        assertThat(hasData(prometheus.query(
                "kvpilot_time_per_output_token_seconds_bucket{le=\"0.20132659\"}").path("result"))).isTrue();
    }

    @Test
    void dashboardInstanceVariableResolves() throws Exception {
        JsonNode result = prometheus.query("count by (instance) (kvpilot_requests_running)").path("result");
        assertThat(result).isNotEmpty();
        assertThat(result.get(0).path("metric").path("instance").asText()).isEqualTo("127.0.0.1:" + port);
    }

    @Test
    void waitingListHoldsOnlyWhatIsStillMissing() throws Exception {
        for (String waiting : WAITING.keySet()) {
            if (waiting.startsWith("label:")) {
                String label = waiting.substring("label:".length());
                assertThat(prometheus.query("count(kvpilot_requests_running{" + label + "!=\"\"})").path("result"))
                        .as("%s is exported now: remove it from WAITING", waiting).isEmpty();
            } else {
                assertThat(prometheus.hasSeries(waiting)).as("%s is exported now: remove it from WAITING", waiting)
                        .isFalse();
            }
        }
    }

    // --- helpers

    private Map<String, String> panelQueries() throws Exception {
        Map<String, String> queries = new LinkedHashMap<>();
        try (Stream<Path> files = Files.list(Path.of("grafana"))) {
            for (Path file : files.filter(f -> f.toString().endsWith(".json")).sorted().toList()) {
                JsonNode dashboard = json.readTree(file.toFile());
                for (JsonNode panel : dashboard.path("panels")) {
                    for (JsonNode target : panel.path("targets")) {
                        queries.put(file.getFileName() + " / " + panel.path("title").asText() + " / "
                                + target.path("refId").asText(), target.path("expr").asText());
                    }
                }
            }
        }
        return queries;
    }

    /** Grafana's variables as the dashboards' defaults ("All") resolve them. */
    private static String withVariables(String promql) {
        return promql.replace("$__rate_interval", "5m").replace("$model", ".*").replace("$instance", ".*");
    }

    private Set<String> waitingMetrics(String promql) throws Exception {
        Set<String> waiting = new LinkedHashSet<>();
        for (String metric : metricsIn(promql)) {
            if (!prometheus.hasSeries(metric)) {
                if (!WAITING.containsKey(metric)) {
                    return Set.of();
                }
                waiting.add(metric + ": " + WAITING.get(metric));
            }
        }
        return waiting;
    }

    static Set<String> metricsIn(String promql) {
        Set<String> names = new LinkedHashSet<>();
        Matcher m = METRIC.matcher(promql);
        while (m.find()) {
            names.add(m.group());
        }
        return names;
    }

    private static boolean hasData(JsonNode result) {
        for (JsonNode sample : result) {
            if (!"NaN".equals(sample.path("value").get(1).asText())) {
                return true;
            }
        }
        return false;
    }

    private void complete(String body, String key, int status) {
        client.mutate().responseTimeout(Duration.ofSeconds(60)).build()
                .post().uri("/v1/completions").header("Authorization", "Bearer " + key)
                .contentType(MediaType.APPLICATION_JSON).bodyValue(body)
                .exchange().expectStatus().isEqualTo(status);
    }
}
