package io.kvpilot.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvpilot.serving.Scheduler;
import java.time.Duration;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.http.MediaType;
import org.springframework.test.web.reactive.server.WebTestClient;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** {@code GET /admin/telemetry} over HTTP: the controller's snapshot after a served request, admin key only. */
@FakeServingTest
class TelemetryEndpointTest {

    @Autowired
    WebTestClient client;

    @Autowired
    Scheduler scheduler;

    private final JsonMapper json = JsonMapper.builder().build();

    @BeforeEach
    void oneRequestServed() {
        TestWaits.until(scheduler::isReady);
        client = client.mutate().responseTimeout(Duration.ofSeconds(30)).build();
        client.post().uri("/v1/completions").header("Authorization", "Bearer test-key")
                .contentType(MediaType.APPLICATION_JSON)
                .bodyValue("{\"prompt\": \"telemetry\", \"max_tokens\": 3}")
                .exchange().expectStatus().isOk();
    }

    private JsonNode telemetry() {
        String body = client.get().uri("/admin/telemetry").header("Authorization", "Bearer admin-key").exchange()
                .expectStatus().isOk().expectBody(String.class).returnResult().getResponseBody();
        return json.readTree(body);
    }

    @Test
    void snapshotShowsTheServedRequestAndTheBudget() {
        // published by the engine thread at most 100 ms after its last loop
        TestWaits.until(() -> telemetry().path("short_window").path("interactive").path("requests").asLong() > 0);
        JsonNode t = telemetry();

        assertThat(t.path("kv_budget_bytes").asLong()).isEqualTo(1_000_000L);
        assertThat(t.path("last_step").path("path").asText()).isEqualTo("unknown");
        assertThat(t.path("last_step").path("tokens").asInt()).isPositive();
        JsonNode interactive = t.path("short_window").path("interactive");
        assertThat(interactive.path("window_seconds").asDouble()).isEqualTo(10.0);
        assertThat(interactive.path("ttft_p50_seconds").asDouble()).isPositive();
        assertThat(interactive.path("tpot_p50_seconds").isNumber()).isTrue();
        assertThat(t.path("long_window").path("interactive").path("window_seconds").asDouble()).isEqualTo(60.0);
        assertThat(t.path("rss_bytes").asLong()).isGreaterThan(50_000_000L);
    }

    @Test
    void anApiKeyIsRefused() {
        client.get().uri("/admin/telemetry").header("Authorization", "Bearer test-key").exchange()
                .expectStatus().isForbidden();
    }
}
