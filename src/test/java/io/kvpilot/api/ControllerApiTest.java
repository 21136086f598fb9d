package io.kvpilot.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvpilot.policy.QualityPredictor;
import io.kvpilot.policy.StandInQualityPredictor;
import io.kvpilot.serving.Scheduler;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.context.TestConfiguration;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.boot.webtestclient.autoconfigure.AutoConfigureWebTestClient;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Import;
import org.springframework.http.MediaType;
import org.springframework.test.web.reactive.server.WebTestClient;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The controller over HTTP on the real model, with a stand-in quality predictor (the learned one is an artefact of its
 * own): {@code auto} is decided by the controller and reported with its predicted quality; the admin endpoints list
 * decisions and pin a setting, for the admin key only.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
    "kvpilot.security.api-keys=test-key",
    "kvpilot.security.admin-keys=admin-key",
    "kvpilot.scheduler.default-max-tokens=8",
    "kvpilot.scheduler.idle-poll=5ms",
    "kvpilot.policy.decisions-kept=4",
})
@AutoConfigureWebTestClient
@Import(ControllerApiTest.StandInPredictor.class)
class ControllerApiTest {

    /** Quality falls by 0.2 per unit of ratio, by 0.01 at 8 bits and 0.03 at 4 ({@link StandInQualityPredictor}). */
    @TestConfiguration(proxyBeanMethods = false)
    static class StandInPredictor {
        @Bean
        @org.springframework.context.annotation.Primary // over the learned one the service loads
        QualityPredictor standInQualityPredictor() {
            return new StandInQualityPredictor();
        }
    }

    @Autowired
    WebTestClient client;

    @LocalServerPort
    int port;

    @Autowired
    Scheduler scheduler;

    @Autowired
    JsonMapper json;

    /**
     * Longer waits than {@link TestWaits} and WebTestClient's 5 s: this context loads the real model on its own, and
     * shares a 2-core machine with the rest of the suite.
     */
    @BeforeEach
    void ready() throws InterruptedException {
        client = client.mutate().responseTimeout(java.time.Duration.ofSeconds(60)).build();
        long until = System.nanoTime() + 180_000_000_000L;
        while (!scheduler.isReady()) {
            assertThat(System.nanoTime()).as("model ready within 180 s").isLessThan(until);
            Thread.sleep(20);
        }
    }

    @AfterEach
    void release() {
        client.delete().uri("/admin/policy/pin").header("Authorization", "Bearer admin-key").exchange();
    }

    private JsonNode complete(String body) {
        byte[] bytes = client.post().uri("/v1/completions").header("Authorization", "Bearer test-key")
                .contentType(MediaType.APPLICATION_JSON).bodyValue(body).exchange()
                .expectStatus().isOk().expectBody().returnResult().getResponseBody();
        return json.readTree(bytes);
    }

    private JsonNode error(String method, String uri, String key, String body, int status) {
        var spec = client.method(org.springframework.http.HttpMethod.valueOf(method)).uri(uri)
                .header("Authorization", "Bearer " + key).contentType(MediaType.APPLICATION_JSON);
        byte[] bytes = (body == null ? spec.exchange() : spec.bodyValue(body).exchange())
                .expectStatus().isEqualTo(status).expectBody().returnResult().getResponseBody();
        return json.readTree(bytes).get("error");
    }

    @Test
    void autoIsDecidedByTheControllerAndReportsItsPredictedQuality() {
        JsonNode kv = complete("""
                {"prompt": "Once upon a time", "max_tokens": 4, "temperature": 0,
                 "kv_compression": {"auto": {"min_quality": 0.95, "slo_class": "interactive", "task": "continuation"}}}
                """).get("usage").get("kv_cache");

        assertThat(kv.get("decided_by").stringValue()).isEqualTo("controller");
        assertThat(kv.get("method").stringValue()).isEqualTo("none"); // an idle server has headroom
        assertThat(kv.get("predicted_quality").doubleValue()).isEqualTo(1.0);
        JsonNode absent = complete("""
                {"prompt": "Once upon a time", "max_tokens": 2}""").get("usage").get("kv_cache");
        assertThat(absent.get("decided_by").stringValue()).isEqualTo("controller");
        JsonNode fixed = complete("""
                {"prompt": "Once upon a time", "max_tokens": 2, "kv_compression": "off"}""")
                .get("usage").get("kv_cache");
        assertThat(fixed.get("decided_by").stringValue()).isEqualTo("request");
        assertThat(fixed.has("predicted_quality")).isFalse();
    }

    @Test
    void decisionsAreExportedAsMetrics() {
        complete("""
                {"prompt": "Once upon a time", "max_tokens": 2}""");

        String scrape = client.get().uri("/actuator/prometheus").exchange().expectStatus().isOk()
                .expectBody(String.class).returnResult().getResponseBody();
        assertThat(scrape.lines().filter(l -> l.startsWith("kvpilot_policy_decisions_total{")
                && l.contains("method=\"none\"") && l.contains("bits=\"16\"") && l.contains("reason=\"headroom\"")))
                .hasSize(1);
        assertThat(scrape).contains("kvpilot_policy_decision_seconds_bucket{")
                .contains("kvpilot_policy_predicted_quality_bucket{");
        // exported at 0 from start-up, and still 0: the learned predictor decided
        assertThat(PrometheusScrape.parse(scrape).series("kvpilot_policy_fallbacks_total")).hasSize(2);
        assertThat(PrometheusScrape.parse(scrape).sum("kvpilot_policy_fallbacks_total")).isZero();
    }

    @Test
    void thePredictedTimePerOutputTokenIsComparedWithTheMeasuredOne() throws Exception {
        // its own client and connection (java.net.http): a kept-alive connection that just carried a run of fast 400s
        // can stall its next request in Reactor Netty 1.3.6 (issue 4361; see RawHttpClient)
        HttpClient http = HttpClient.newHttpClient();
        // 24 decode steps warm the step-time model (20 samples); the next auto request is decided with a TPOT
        for (String body : new String[] {
            "{\"prompt\": \"Once upon a time\", \"max_tokens\": 24, \"ignore_eos\": true, \"kv_compression\": \"off\"}",
            "{\"prompt\": \"The fox ran home\", \"max_tokens\": 6, \"ignore_eos\": true}"}) {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://localhost:" + port
                    + "/v1/completions")).header("Authorization", "Bearer test-key")
                    .header("Content-Type", "application/json").timeout(Duration.ofSeconds(60))
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        }

        String scrape = client.get().uri("/actuator/prometheus").exchange().expectStatus().isOk()
                .expectBody(String.class).returnResult().getResponseBody();
        double count = scrape.lines().filter(l -> l.startsWith("kvpilot_predictor_abs_error_count{")
                && l.contains("target=\"tpot\"")).mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ')
                        + 1))).sum();
        assertThat(count).as("tpot error observations in%n%s", scrape.lines()
                .filter(l -> l.contains("predictor_abs_error")).toList()).isGreaterThanOrEqualTo(1.0);
    }

    @Test
    void decisionsAreListedWithTheirInputsAndCandidatesForTheAdminKeyOnly() {
        complete("""
                {"prompt": "The fox ran home", "max_tokens": 3, "kv_compression": {"auto": {"min_quality": 0.97}}}""");

        JsonNode view = json.readTree(client.get().uri("/admin/policy/decisions")
                .header("Authorization", "Bearer admin-key").exchange()
                .expectStatus().isOk().expectBody().returnResult().getResponseBody());
        assertThat(view.get("predictor").stringValue()).isEqualTo("stand-in (test)");
        assertThat(view.get("kept").intValue()).isEqualTo(4);
        JsonNode latest = view.get("decisions").get(0);
        assertThat(latest.get("reason").stringValue()).isEqualTo("headroom");
        assertThat(latest.get("request").get("min_quality").doubleValue()).isEqualTo(0.97);
        assertThat(latest.get("request").get("max_tokens").intValue()).isEqualTo(3);
        assertThat(latest.get("server").get("kv_budget_bytes").longValue()).isPositive();
        // none, int8 and int4 alone, and 3 methods x 3 ratios x 3 bit widths
        assertThat(latest.get("candidates").size()).isEqualTo(20); // none, int8, 3 methods x 3 ratios x 2 widths
        assertThat(latest.get("candidates").get(0).get("verdict").stringValue()).isEqualTo("chosen");
        assertThat(latest.get("candidates").findValuesAsString("verdict")).contains("below_floor");

        assertThat(error("GET", "/admin/policy/decisions", "test-key", null, 403).get("type").stringValue())
                .isEqualTo("permission_error");
        error("PUT", "/admin/policy/pin", "test-key", """
                {"method": "keydiff", "ratio": 0.5}""", 403);
        error("DELETE", "/admin/policy/pin", "test-key", null, 403);
    }

    @Test
    void aPinnedSettingAppliesToAutoRequestsUntilReleased() {
        JsonNode pinned = json.readTree(client.put().uri("/admin/policy/pin").header("Authorization", "Bearer admin-key")
                .contentType(MediaType.APPLICATION_JSON).bodyValue("""
                        {"method": "keydiff", "ratio": 0.5, "bits": 8}""").exchange()
                .expectStatus().isOk().expectBody().returnResult().getResponseBody());
        assertThat(pinned.get("pinned").get("method").stringValue()).isEqualTo("keydiff");

        JsonNode kv = complete("""
                {"prompt": "Once upon a time there was a fox", "max_tokens": 3}""").get("usage").get("kv_cache");
        assertThat(kv.get("method").stringValue()).isEqualTo("keydiff");
        assertThat(kv.get("ratio").doubleValue()).isEqualTo(0.5);
        assertThat(kv.get("bits").intValue()).isEqualTo(8);
        assertThat(kv.get("decided_by").stringValue()).isEqualTo("controller");
        assertThat(kv.get("predicted_quality").doubleValue()).isCloseTo(0.89, org.assertj.core.api.Assertions.within(1e-9));

        client.delete().uri("/admin/policy/pin").header("Authorization", "Bearer admin-key").exchange()
                .expectStatus().isOk();
        assertThat(complete("""
                {"prompt": "Once upon a time", "max_tokens": 2}""").get("usage").get("kv_cache").get("method")
                .stringValue()).isEqualTo("none");
    }

    @Test
    void badPinsAndAutoFieldsAreRefusedNamingTheField() {
        assertThat(error("PUT", "/admin/policy/pin", "admin-key", """
                {"method": "keydiff", "ratio": 1.5}""", 400).get("param").stringValue()).isEqualTo("ratio");
        assertThat(error("PUT", "/admin/policy/pin", "admin-key", """
                {"method": "nope"}""", 400).get("param").stringValue()).isEqualTo("method");
        assertThat(error("POST", "/v1/completions", "test-key", """
                {"prompt": "x", "kv_compression": {"auto": {"min_quality": 1.2}}}""", 400).get("param").stringValue())
                .isEqualTo("kv_compression.auto.min_quality");
        assertThat(error("POST", "/v1/completions", "test-key", """
                {"prompt": "x", "kv_compression": {"auto": {"slo_class": "gold"}}}""", 400).get("param").stringValue())
                .isEqualTo("kv_compression.auto.slo_class");
        assertThat(error("POST", "/v1/completions", "test-key", """
                {"prompt": "x", "kv_compression": {"auto": {"min_qualty": 0.9}}}""", 400).get("param").stringValue())
                .isEqualTo("kv_compression.auto.min_qualty");
        assertThat(error("POST", "/v1/completions", "test-key", """
                {"prompt": "x", "kv_compression": {"auto": "yes"}}""", 400).get("param").stringValue())
                .isEqualTo("kv_compression.auto");
        assertThat(error("POST", "/v1/completions", "test-key", """
                {"prompt": "x", "kv_compression": {"auto": {}, "method": "snapkv"}}""", 400).get("param")
                .stringValue()).isEqualTo("kv_compression");
    }
}
