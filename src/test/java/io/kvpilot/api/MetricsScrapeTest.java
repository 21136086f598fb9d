package io.kvpilot.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvpilot.serving.Scheduler;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.http.MediaType;
import org.springframework.test.web.reactive.server.WebTestClient;

/** design.md §3's serving metrics, as scraped from /actuator/prometheus (exact names, types, base units). */
@FakeServingTest
class MetricsScrapeTest {

    @Autowired
    WebTestClient client;

    @Autowired
    Scheduler scheduler;

    @BeforeEach
    void oneRequestServed() {
        TestWaits.until(scheduler::isReady);
        // the first request of a fresh context runs cold code: on a loaded 2-core machine it took over 5 s
        client = client.mutate().responseTimeout(java.time.Duration.ofSeconds(30)).build();
        client.post().uri("/v1/completions").header("Authorization", "Bearer test-key")
                .contentType(MediaType.APPLICATION_JSON)
                // long enough that compaction frees whole 32-token blocks: a shorter cache holds one block either way
                .bodyValue("{\"prompt\": \"" + "metrics ".repeat(12) + "\", \"max_tokens\": 4, "
                        + "\"kv_compression\": {\"method\": \"snapkv\", \"ratio\": 0.5}}")
                .exchange().expectStatus().isOk();
        client.post().uri("/v1/completions").header("Authorization", "Bearer test-key")
                .contentType(MediaType.APPLICATION_JSON).bodyValue("{\"prompt\": \"" + "x".repeat(300) + "\"}")
                .exchange().expectStatus().isEqualTo(413);
    }

    private PrometheusScrape scrape() {
        String text = client.get().uri("/actuator/prometheus").exchange().expectStatus().isOk()
                .expectBody(String.class).returnResult().getResponseBody();
        return PrometheusScrape.parse(text);
    }

    @ParameterizedTest(name = "{0} is a {1}")
    @CsvSource({
        "kvpilot_requests_running, gauge",
        "kvpilot_requests_waiting, gauge",
        "kvpilot_kv_cache_used_bytes, gauge",
        "kvpilot_kv_cache_budget_bytes, gauge",
        "kvpilot_kv_cache_usage_ratio, gauge",
        "kvpilot_kv_bytes_saved_total, counter",
        "kvpilot_kv_compression_ratio, histogram",
        "kvpilot_time_to_first_token_seconds, histogram",
        "kvpilot_time_per_output_token_seconds, histogram",
        "kvpilot_e2e_request_latency_seconds, histogram",
        "kvpilot_request_queue_time_seconds, histogram",
        "kvpilot_prompt_tokens_total, counter",
        "kvpilot_generation_tokens_total, counter",
        "kvpilot_request_success_total, counter",
        "kvpilot_admission_rejections_total, counter",
        "kvpilot_kv_recompressions_total, counter",
        "kvpilot_kv_cache_reserved_bytes, gauge",
        "kvpilot_request_queue_oldest_wait_seconds, gauge",
        "kvpilot_engine_step_seconds, histogram",
        "kvpilot_engine_steps_total, counter",
        "kvpilot_engine_step_tokens, histogram",
        "process_resident_memory_bytes, gauge",
        "resilience4j_circuitbreaker_state, gauge",
        "resilience4j_bulkhead_available_concurrent_calls, gauge",
    })
    void metricIsExportedWithItsType(String name, String type) {
        PrometheusScrape scrape = scrape();

        String family = type.equals("counter") ? name.replaceAll("_total$", "") : name;
        assertThat(scrape.types()).as("# TYPE of %s", name)
                .containsAnyOf(java.util.Map.entry(name, type), java.util.Map.entry(family, type));
    }

    @Test
    void budgetGaugeShowsTheConfiguredBudget() {
        assertThat(scrape().sum("kvpilot_kv_cache_budget_bytes", "")).isEqualTo(1_000_000.0);
    }

    @Test
    void finishedRequestIsCountedByFinishReason() {
        assertThat(scrape().sum("kvpilot_request_success_total", "finish_reason=\"length\"")).isPositive();
    }

    @Test
    void tooLongPromptIsCountedAsARejection() {
        assertThat(scrape().sum("kvpilot_admission_rejections_total", "reason=\"too_long\"")).isPositive();
    }

    @Test
    void compressionSavingsAreCountedByMethod() {
        PrometheusScrape scrape = scrape();

        assertThat(scrape.sum("kvpilot_kv_bytes_saved_total", "method=\"snapkv\"")).isPositive();
        assertThat(scrape.sum("kvpilot_kv_compression_ratio_count", "method=\"snapkv\"")).isPositive();
    }

    @Test
    void latencyHistogramsHaveObservations() {
        PrometheusScrape scrape = scrape();

        assertThat(scrape.sum("kvpilot_time_to_first_token_seconds_count", "")).isPositive();
        assertThat(scrape.sum("kvpilot_e2e_request_latency_seconds_count", "")).isPositive();
        assertThat(scrape.sum("kvpilot_request_queue_time_seconds_count", "")).isPositive();
        assertThat(scrape.sum("kvpilot_time_per_output_token_seconds_count", "")).isPositive();
    }

    @Test
    void everyKvpilotSeriesCarriesTheServedModelName() {
        PrometheusScrape scrape = scrape();

        assertThat(scrape.samples().keySet()).filteredOn(k -> k.startsWith("kvpilot_"))
                .isNotEmpty().allMatch(k -> k.contains("model_name=\"fake-model\""));
    }

    @Test
    void compressionRatioOfAboutAHalfLandsInTheBucketsBelowOne() {
        PrometheusScrape scrape = scrape();
        String snapkv = "method=\"snapkv\"";

        // the fake engine keeps ceil(length / 2) of the request's 5 or more positions: applied ratio in (0.3, 0.5]
        assertThat(scrape.sum("kvpilot_kv_compression_ratio_bucket", snapkv, "le=\"0.3\"")).isZero();
        assertThat(scrape.sum("kvpilot_kv_compression_ratio_bucket", snapkv, "le=\"0.5\""))
                .isEqualTo(scrape.sum("kvpilot_kv_compression_ratio_count", snapkv)).isPositive();
        assertThat(scrape.sum("kvpilot_kv_compression_ratio_sum", snapkv)
                / scrape.sum("kvpilot_kv_compression_ratio_count", snapkv)).isBetween(0.3, 0.5);
    }

    @Test
    void engineStepsAreTimedByPath() {
        PrometheusScrape scrape = scrape();

        // the fake engine reports no passes: the scheduler counts its steps as path "unknown"
        assertThat(scrape.sum("kvpilot_engine_step_seconds_count", "path=\"unknown\"")).isPositive();
        assertThat(scrape.sum("kvpilot_engine_steps_total", "reason=\"unreported\"")).isPositive();
        assertThat(scrape.sum("kvpilot_engine_step_seconds_bucket", "le=\"10.0\""))
                .isEqualTo(scrape.sum("kvpilot_engine_step_seconds_count", ""));
        assertThat(scrape.sum("kvpilot_engine_step_tokens_count", "")).isPositive();
    }

    @Test
    void recompressionsAreExportedAtZeroUntilTheControllerCountsOne() {
        assertThat(scrape().series("kvpilot_kv_recompressions_total"))
                .anyMatch(k -> k.contains("reason=\"pressure\""));
    }

    @Test
    void residentMemoryIsInBytes() {
        assertThat(scrape().sum("process_resident_memory_bytes", "")).isGreaterThan(50e6);
    }

    @Test
    void tokensAreCounted() {
        PrometheusScrape scrape = scrape();

        assertThat(scrape.sum("kvpilot_prompt_tokens_total", "")).isGreaterThanOrEqualTo(8);
        assertThat(scrape.sum("kvpilot_generation_tokens_total", "")).isGreaterThanOrEqualTo(4);
    }
}
