package io.kvpilot.api;

import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerRegistry;
import io.github.resilience4j.ratelimiter.RateLimiterConfig;
import io.github.resilience4j.ratelimiter.RateLimiterRegistry;
import io.kvpilot.serving.FakeEngine;
import io.kvpilot.serving.Scheduler;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.http.MediaType;
import org.springframework.test.web.reactive.server.WebTestClient;
import reactor.core.Disposable;

/** One test per error path; every error is OpenAI's JSON shape with the status of design.md §2. */
@FakeServingTest
class ErrorResponsesTest {

    @Autowired
    WebTestClient client;

    @Autowired
    Scheduler scheduler;

    @Autowired
    FakeEngine engine;

    @Autowired
    CircuitBreakerRegistry circuitBreakers;

    @Autowired
    RateLimiterRegistry rateLimiters;

    @Autowired
    ApiKeys apiKeys;

    @LocalServerPort
    int port;

    private final List<Disposable> inFlight = new ArrayList<>();

    @BeforeEach
    void ready() {
        TestWaits.until(scheduler::isReady);
        // another class on this shared context may have left the breaker half-open
        circuitBreaker().reset();
    }

    @AfterEach
    void reset() {
        inFlight.forEach(Disposable::dispose);
        TestWaits.until(() -> scheduler.runningCount() == 0 && scheduler.waitingCount() == 0);
        engine.stepMillis = 0;
        engine.failingSteps.set(0);
        circuitBreaker().reset();
    }

    private CircuitBreaker circuitBreaker() {
        return circuitBreakers.circuitBreaker("generation");
    }

    private WebTestClient.ResponseSpec post(String path, String key, String body) {
        WebTestClient.RequestBodySpec spec = client.post().uri(path).contentType(MediaType.APPLICATION_JSON);
        if (key != null) {
            spec.header("Authorization", "Bearer " + key);
        }
        return spec.bodyValue(body).exchange();
    }

    private WebTestClient.ResponseSpec complete(String body) {
        return post("/v1/completions", "test-key", body);
    }

    private static void assertError(WebTestClient.ResponseSpec response, int status, String type, String code) {
        response.expectStatus().isEqualTo(status)
                .expectHeader().contentTypeCompatibleWith(MediaType.APPLICATION_JSON)
                .expectBody()
                .jsonPath("$.error.message").isNotEmpty()
                .jsonPath("$.error.type").isEqualTo(type)
                .jsonPath("$.error.code").isEqualTo(code);
    }

    static Stream<Arguments> badFields() {
        return Stream.of(
                Arguments.of("{\"prompt\": \"x\", \"max_tokens\": 0}", "max_tokens"),
                Arguments.of("{\"prompt\": \"x\", \"max_tokens\": \"5\"}", "max_tokens"),
                Arguments.of("{\"prompt\": \"x\", \"max_tokens\": 2.5}", "max_tokens"),
                Arguments.of("{\"prompt\": \"x\", \"temperature\": 2.5}", "temperature"),
                Arguments.of("{\"prompt\": \"x\", \"temperature\": \"hot\"}", "temperature"),
                Arguments.of("{\"prompt\": \"x\", \"top_p\": 0}", "top_p"),
                Arguments.of("{\"prompt\": \"x\", \"top_p\": 1.5}", "top_p"),
                Arguments.of("{\"prompt\": \"x\", \"top_k\": -2}", "top_k"),
                Arguments.of("{\"prompt\": \"x\", \"seed\": \"abc\"}", "seed"),
                Arguments.of("{\"prompt\": \"x\", \"n\": 2}", "n"),
                Arguments.of("{\"prompt\": \"x\", \"stop\": [\"a\", \"b\", \"c\", \"d\", \"e\"]}", "stop"),
                Arguments.of("{\"prompt\": \"x\", \"stop\": 5}", "stop"),
                Arguments.of("{\"prompt\": \"x\", \"stop\": \"\"}", "stop"),
                Arguments.of("{\"prompt\": \"x\", \"stop\": [\"\"]}", "stop"),
                // 1/T overflowed the sampler (a 500 that counted against the circuit breaker)
                Arguments.of("{\"prompt\": \"x\", \"temperature\": 1e-320}", "temperature"),
                Arguments.of("{\"prompt\": \"x\", \"temperature\": 1e-9}", "temperature"),
                Arguments.of("{\"prompt\": \"x\", \"temperature\": -0.5}", "temperature"),
                Arguments.of("{\"prompt\": \"x\", \"top_k\": 1e300}", "top_k"),
                Arguments.of("{\"prompt\": \"x\", \"seed\": 1e30}", "seed"),
                Arguments.of("{\"prompt\": \"x\", \"seed\": 99999999999999999999999}", "seed"),
                Arguments.of("{\"prompt\": \"x\", \"tools\": \"x\"}", "tools"),
                Arguments.of("{\"prompt\": \"x\", \"tools\": [1]}", "tools"),
                Arguments.of("{\"prompt\": \"x\", \"tools\": [{\"type\": \"function\"}]}", "tools"),
                Arguments.of("{\"prompt\": \"x\", \"tool_choice\": \"required\"}", "tool_choice"),
                Arguments.of("{\"prompt\": \"x\", \"tool_choice\": {\"type\": \"function\"}}", "tool_choice"),
                Arguments.of("{\"prompt\": \"x\", \"response_format\": {\"type\": \"json_object\"}}",
                        "response_format"),
                Arguments.of("{\"prompt\": \"x\", \"response_format\": {\"type\": \"json_schema\"}}",
                        "response_format"),
                Arguments.of("{\"prompt\": \"x\", \"response_format\": \"text\"}", "response_format"),
                Arguments.of("{\"prompt\": \"x\", \"stream\": \"yes\"}", "stream"),
                Arguments.of("{\"prompt\": \"x\", \"stream_options\": true}", "stream_options"),
                Arguments.of("{\"prompt\": \"x\", \"stream_options\": {\"include_usage\": 1}}",
                        "stream_options.include_usage"),
                Arguments.of("{\"prompt\": \"x\", \"presence_penalty\": 3}", "presence_penalty"),
                Arguments.of("{\"prompt\": \"x\", \"logprobs\": 2}", "logprobs"),
                Arguments.of("{\"prompt\": \"x\", \"echo\": true}", "echo"),
                Arguments.of("{\"prompt\": \"x\", \"model\": 7}", "model"),
                Arguments.of("{\"prompt\": \"x\", \"kv_compression\": \"fast\"}", "kv_compression"),
                Arguments.of("{\"prompt\": \"x\", \"kv_compression\": {\"ratio\": 0.5}}", "kv_compression.method"),
                Arguments.of("{\"prompt\": \"x\", \"kv_compression\": {\"method\": \"SnapKV\"}}",
                        "kv_compression.method"),
                Arguments.of("{\"prompt\": \"x\", \"kv_compression\": {\"method\": \"snapkv\", \"ratio\": 1.0}}",
                        "kv_compression.ratio"),
                Arguments.of("{\"prompt\": \"x\", \"kv_compression\": {\"method\": \"snapkv\", \"bits\": 3}}",
                        "kv_compression.bits"),
                Arguments.of("{\"prompt\": \"x\", \"kv_compression\": {\"method\": \"none\", \"ratio\": 0.5}}",
                        "kv_compression.method"),
                Arguments.of("{\"prompt\": \"x\", \"kv_compression\": {\"method\": \"no_such_method\"}}",
                        "kv_compression"),
                Arguments.of("{}", "prompt"),
                Arguments.of("{\"prompt\": 42}", "prompt"),
                Arguments.of("{\"prompt\": [1, 2, 999]}", "prompt"),
                Arguments.of("{\"prompt\": []}", "prompt"));
    }

    @ParameterizedTest(name = "{1}: {0}")
    @MethodSource("badFields")
    void invalidCompletionFieldIsA400NamingTheField(String body, String param) {
        complete(body).expectStatus().isBadRequest().expectBody()
                .jsonPath("$.error.type").isEqualTo("invalid_request_error")
                .jsonPath("$.error.param").isEqualTo(param);
    }

    static Stream<Arguments> badChatFields() {
        return Stream.of(
                Arguments.of("{\"messages\": []}", "messages"),
                Arguments.of("{\"messages\": \"hi\"}", "messages"),
                Arguments.of("{\"messages\": [\"hi\"]}", "messages[0]"),
                Arguments.of("{\"messages\": [{\"role\": \"robot\", \"content\": \"hi\"}]}", "messages[0].role"),
                Arguments.of("{\"messages\": [{\"role\": \"user\", \"content\": 5}]}", "messages[0].content"),
                Arguments.of("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_completion_tokens\": 0}",
                        "max_completion_tokens"));
    }

    @ParameterizedTest(name = "{1}: {0}")
    @MethodSource("badChatFields")
    void invalidChatFieldIsA400NamingTheField(String body, String param) {
        post("/v1/chat/completions", "test-key", body).expectStatus().isBadRequest().expectBody()
                .jsonPath("$.error.param").isEqualTo(param);
    }

    @Test
    void malformedJsonIsA400() {
        assertError(complete("{\"prompt\": \"x\", "), 400, "invalid_request_error", "invalid_value");
    }

    @Test
    void bodyThatIsNotAnObjectIsA400() {
        assertError(complete("[1, 2]"), 400, "invalid_request_error", "invalid_value");
    }

    @Test
    void missingApiKeyIsA401() {
        assertError(post("/v1/completions", null, "{\"prompt\": \"x\"}"), 401, "authentication_error",
                "invalid_api_key");
    }

    @Test
    void wrongApiKeyIsA401() {
        assertError(post("/v1/completions", "nope", "{\"prompt\": \"x\"}"), 401, "authentication_error",
                "invalid_api_key");
    }

    @Test
    void apiKeyOnAnAdminEndpointIsA403() {
        assertError(client.get().uri("/admin/scheduler").header("Authorization", "Bearer test-key").exchange(),
                403, "permission_error", "insufficient_permissions");
    }

    @Test
    void adminKeyOpensTheAdminEndpoint() {
        client.get().uri("/admin/scheduler").header("Authorization", "Bearer admin-key").exchange()
                .expectStatus().isOk().expectBody().jsonPath("$.state").isEqualTo("ready");
    }

    @Test
    void healthNeedsNoKey() {
        client.get().uri("/actuator/health/liveness").exchange().expectStatus().isOk();
    }

    @Test
    void unknownModelIsA404() {
        assertError(complete("{\"model\": \"gpt-4\", \"prompt\": \"x\"}"), 404, "invalid_request_error",
                "model_not_found");
    }

    @Test
    void promptLongerThanTheContextWindowIsA413() {
        assertError(complete("{\"prompt\": \"" + "x".repeat(300) + "\"}"), 413, "invalid_request_error",
                "context_length_exceeded");
    }

    @Test
    void fullQueueIsA429WithRetryAfter() {
        engine.stepMillis = 20;
        List<Throwable> refused = new CopyOnWriteArrayList<>();
        for (int i = 0; i < 4; i++) {
            inFlight.add(WebClientSupport.stream(port, "/v1/completions",
                    "{\"prompt\": \"p\", \"max_tokens\": 250, \"stream\": true}", "test-key")
                    .subscribe(line -> {}, refused::add));
            // Wait for the exact state, not just the total: a filler counted while still waiting for its slot would
            // leave the queue one place shorter than this test assumes, and the last filler would be the one refused.
            int running = Math.min(i + 1, 2);
            int waiting = i + 1 - running;
            TestWaits.until(() -> {
                if (!refused.isEmpty()) {
                    throw new AssertionError("a filler stream was refused: " + refused.get(0));
                }
                return scheduler.runningCount() == running && scheduler.waitingCount() == waiting;
            });
        }

        WebTestClient.ResponseSpec response = complete("{\"prompt\": \"x\", \"max_tokens\": 1}");

        response.expectHeader().valueEquals("Retry-After", "1");
        assertError(response, 429, "rate_limit_error", "queue_full");
    }

    @Test
    void rateLimitedKeyIsA429WithRetryAfter() {
        rateLimiters.rateLimiter("client-" + apiKeys.clientIdOf("limited-key"), RateLimiterConfig.custom()
                .limitForPeriod(1).limitRefreshPeriod(Duration.ofSeconds(30)).timeoutDuration(Duration.ZERO).build());
        post("/v1/completions", "limited-key", "{\"prompt\": \"x\", \"max_tokens\": 1}").expectStatus().isOk();

        WebTestClient.ResponseSpec response = post("/v1/completions", "limited-key",
                "{\"prompt\": \"x\", \"max_tokens\": 1}");

        response.expectHeader().valueEquals("Retry-After", "30");
        assertError(response, 429, "rate_limit_error", "rate_limit_exceeded");
    }

    @Test
    void engineFailureIsA500WithTheEngineErrorCode() {
        engine.failingSteps.set(1);

        assertError(complete("{\"prompt\": \"x\", \"max_tokens\": 2}"), 500, "server_error", "engine_error");
    }

    @Test
    void repeatedEngineFailuresOpenTheCircuitAndAnswer503Fast() {
        engine.failingSteps.set(3);
        for (int i = 0; i < 3; i++) {
            complete("{\"prompt\": \"x\", \"max_tokens\": 2}").expectStatus().isEqualTo(500);
        }

        WebTestClient.ResponseSpec response = complete("{\"prompt\": \"x\", \"max_tokens\": 2}");

        assertError(response, 503, "server_error", "circuit_open");
        response.expectHeader().exists("Retry-After");
    }

    @Test
    void openCircuitRecoversThroughHalfOpen() {
        circuitBreaker().transitionToOpenState();
        complete("{\"prompt\": \"x\", \"max_tokens\": 2}").expectStatus().isEqualTo(503);
        TestWaits.until(() -> circuitBreaker().getState() == CircuitBreaker.State.HALF_OPEN);

        complete("{\"prompt\": \"x\", \"max_tokens\": 2}").expectStatus().isOk();

        // the outcome is recorded when the response completes, just after the client has it
        TestWaits.until(() -> circuitBreaker().getState() == CircuitBreaker.State.CLOSED);
    }
}
