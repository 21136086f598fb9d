package io.kvpilot.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvpilot.serving.Scheduler;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.http.MediaType;
import org.springframework.test.web.reactive.server.WebTestClient;

/**
 * The metrics as a real Prometheus server sees them: it scrapes the running service (real model) and answers PromQL
 * queries over what it stored. Catches what a text parse cannot: exposition the server rejects, and names or labels
 * that dashboards' queries would not find. Needs the {@code prometheus} binary ({@code bash .ci/run} installs it).
 */
@RealModelServingTest
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class RealPrometheusScrapeTest {

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

    @BeforeAll
    void startPrometheusAfterOneRequest() throws Exception {
        TestWaits.until(scheduler::isReady);
        client.post().uri("/v1/completions").header("Authorization", "Bearer test-key")
                .contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"prompt\": \"Once upon a time\", \"max_tokens\": 6, \"temperature\": 0}")
                .exchange().expectStatus().isOk();
        // knorm keeps the top half of the prompt's entries; one token, so nothing is generated into the cache
        client.post().uri("/v1/completions").header("Authorization", "Bearer test-key")
                .contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"prompt\": \"The little dog ran to the park with his red ball and his friend\", "
                        + "\"max_tokens\": 1, \"kv_compression\": {\"method\": \"knorm\", \"ratio\": 0.5}}")
                .exchange().expectStatus().isOk();

        prometheus = PrometheusServer.scraping(port, dir);
    }

    @AfterAll
    void stopPrometheus() throws InterruptedException {
        if (prometheus != null) {
            prometheus.close();
        }
    }

    @Test
    void targetIsUp() throws Exception {
        assertThat(valueOf("up{job=\"kvpilot\"}")).isEqualTo(1.0);
    }

    @Test
    void generatedTokensAreStored() throws Exception {
        assertThat(valueOf("sum(kvpilot_generation_tokens_total)")).isGreaterThanOrEqualTo(1.0);
    }

    @Test
    void finishedRequestIsStoredByFinishReason() throws Exception {
        assertThat(valueOf("sum(kvpilot_request_success_total{finish_reason=~\"stop|length\"})"))
                .isGreaterThanOrEqualTo(1.0);
    }

    @Test
    void timeToFirstTokenHistogramAnswersAQuantileQuery() throws Exception {
        double p50 = valueOf("histogram_quantile(0.5, sum by (le) (kvpilot_time_to_first_token_seconds_bucket))");
        assertThat(p50).as("TTFT median in seconds").isPositive().isLessThan(60.0);
    }

    @Test
    void kvBudgetGaugeIsInBytes() throws Exception {
        assertThat(valueOf("kvpilot_kv_cache_budget_bytes")).isGreaterThan(1_000_000.0);
    }

    @Test
    void compressionRatioMedianOfAHalfIsAboutAHalf() throws Exception {
        // with buckets only at 0.01 ... 0.99 and Micrometer rounding 0.5 up to 1, this answered 0.99
        double p50 = valueOf("histogram_quantile(0.5, sum by (le) "
                + "(kvpilot_kv_compression_ratio_bucket{method=\"knorm\"}))");
        assertThat(p50).isBetween(0.3, 0.6);
    }

    @Test
    void servingMetricsCarryTheServedModelName() throws Exception {
        assertThat(valueOf("count(kvpilot_kv_cache_budget_bytes{model_name=\"kvpilot-mini\"})")).isEqualTo(1.0);
        assertThat(valueOf("count(kvpilot_kv_compression_ratio_count{model_name=\"kvpilot-mini\", method=\"knorm\"})"))
                .isEqualTo(1.0);
    }

    @Test
    void engineStepsOfTheDefaultModelRunOnTheJavaPass() throws Exception {
        assertThat(valueOf("sum(kvpilot_engine_steps_total{path=\"java\", reason=\"dense\"})"))
                .isGreaterThanOrEqualTo(1.0);
        double p50 = valueOf("histogram_quantile(0.5, sum by (le) (kvpilot_engine_step_seconds_bucket))");
        assertThat(p50).as("median step in seconds").isPositive().isLessThan(10.0);
    }

    @Test
    void residentMemoryIsStored() throws Exception {
        assertThat(valueOf("process_resident_memory_bytes")).isGreaterThan(100e6);
    }

    private double valueOf(String promql) throws Exception {
        return prometheus.firstValue(promql, SCRAPE_WAIT);
    }
}
