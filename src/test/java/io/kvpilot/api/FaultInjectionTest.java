package io.kvpilot.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.circuitbreaker.CircuitBreakerRegistry;
import io.github.resilience4j.timelimiter.TimeLimiterRegistry;
import io.kvpilot.serving.FakeEngine;
import io.kvpilot.serving.Scheduler;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.context.annotation.Import;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The circuit breaker against an engine that fails on command (throws, returns NaN logits, stalls): it opens on
 * engine faults only, sheds with a fast 503 while open, half-opens and recovers; client errors, slow successful
 * generation and requests that time out in the queue never count. Also what a queued request sees: headers and SSE
 * keep-alive comments at once, and an error (status or final event) when its deadline passes in the queue.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
    "kvpilot.kv.budget-bytes=1000000",
    "kvpilot.scheduler.max-running-sequences=1",
    "kvpilot.scheduler.max-waiting=4",
    "kvpilot.scheduler.idle-poll=5ms",
    "kvpilot.scheduler.stream-keep-alive=100ms",
    "resilience4j.ratelimiter.configs.per-client.limit-for-period=100000",
    "resilience4j.timelimiter.instances.generation.timeout-duration=1500ms",
    "resilience4j.circuitbreaker.instances.generation.sliding-window-size=4",
    "resilience4j.circuitbreaker.instances.generation.minimum-number-of-calls=4",
    "resilience4j.circuitbreaker.instances.generation.wait-duration-in-open-state=300ms",
    "resilience4j.circuitbreaker.instances.generation.permitted-number-of-calls-in-half-open-state=1",
})
@Import(FakeEngineConfiguration.class)
class FaultInjectionTest {

    private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(20);

    @LocalServerPort
    int port;

    @Autowired
    FakeEngine engine;

    @Autowired
    Scheduler scheduler;

    @Autowired
    CircuitBreakerRegistry circuitBreakers;

    @Autowired
    TimeLimiterRegistry timeLimiters;

    @Autowired
    JsonMapper json;

    private final HttpClient http = HttpClient.newHttpClient();

    @BeforeEach
    void ready() {
        TestWaits.until(scheduler::isReady);
        breaker().reset();
    }

    @AfterEach
    void reset() {
        engine.stepMillis = 0;
        engine.failingSteps.set(0);
        engine.nanLogits.set(0);
        TestWaits.until(() -> scheduler.inFlightCount() == 0);
        breaker().reset();
    }

    private CircuitBreaker breaker() {
        return circuitBreakers.circuitBreaker("generation");
    }

    private HttpRequest request(String path, String body) {
        return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).timeout(REQUEST_TIMEOUT)
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build();
    }

    private HttpResponse<String> post(String body) {
        try {
            return http.send(request("/v1/completions", body), HttpResponse.BodyHandlers.ofString());
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    private String errorCode(HttpResponse<String> response) {
        return json.readTree(response.body()).get("error").get("code").stringValue();
    }

    static Stream<Arguments> engineFaults() {
        return Stream.of(
                Arguments.of("throws", (Consumer<FakeEngine>) e -> e.failingSteps.set(4)),
                Arguments.of("NaN logits", (Consumer<FakeEngine>) e -> e.nanLogits.set(4)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("engineFaults")
    void engineFaultsOpenTheBreakerWhichShedsFastThenHalfOpensAndRecovers(String fault, Consumer<FakeEngine> inject) {
        inject.accept(engine);
        for (int i = 0; i < 4; i++) {
            HttpResponse<String> failed = post("{\"prompt\": \"fault " + i + "\", \"max_tokens\": 3}");
            assertThat(failed.statusCode()).isEqualTo(500);
            assertThat(errorCode(failed)).isEqualTo("engine_error");
        }
        // the outcome is recorded as the response ends, a moment after the client has read it
        TestWaits.until(() -> breaker().getState() == CircuitBreaker.State.OPEN, () -> breaker().getState().name());

        long start = System.nanoTime();
        HttpResponse<String> shed = post("{\"prompt\": \"shed\", \"max_tokens\": 3}");
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(2));
        assertThat(shed.statusCode()).isEqualTo(503);
        assertThat(errorCode(shed)).isEqualTo("circuit_open");
        assertThat(shed.headers().firstValue("Retry-After")).isPresent();

        TestWaits.until(() -> breaker().getState() == CircuitBreaker.State.HALF_OPEN);
        HttpResponse<String> trial = post("{\"prompt\": \"trial\", \"max_tokens\": 3}");
        assertThat(trial.statusCode()).isEqualTo(200);
        TestWaits.until(() -> breaker().getState() == CircuitBreaker.State.CLOSED, () -> breaker().getState().name());
    }

    @Test
    void clientErrorsNeverCountAgainstTheBreaker() {
        List<String> bad = List.of("{\"prompt\": \"x\", \"temperature\": 1e-320}",
                "{\"prompt\": \"x\", \"top_p\": 0}", "{\"prompt\": \"x\", \"max_tokens\": -1}",
                "{\"prompt\": [1, 2, 99999]}", "{\"prompt\": \"x\", \"kv_compression\": {\"method\": \"nope\"}}",
                "{\"prompt\": \"x\", \"tools\": \"x\"}", "not json");
        for (int round = 0; round < 3; round++) {
            for (String body : bad) {
                assertThat(post(body).statusCode()).as(body).isEqualTo(400);
            }
        }
        assertThat(breaker().getState()).isEqualTo(CircuitBreaker.State.CLOSED);
        assertThat(breaker().getMetrics().getNumberOfFailedCalls()).isZero();
        // the sampler is never asked for what it cannot compute: a tiny temperature that is allowed still works
        assertThat(post("{\"prompt\": \"x\", \"temperature\": 1e-6, \"max_tokens\": 2}").statusCode()).isEqualTo(200);
    }

    @Test
    void slowSuccessfulGenerationAndQueueTimeoutsNeverOpenTheBreaker() throws Exception {
        // no slow-call rule below the deadline: a generation as long as the deadline allows is not a failure
        Duration deadline = timeLimiters.timeLimiter("generation").getTimeLimiterConfig().getTimeoutDuration();
        assertThat(breaker().getCircuitBreakerConfig().getSlowCallDurationThreshold()).isGreaterThan(deadline);
        engine.stepMillis = 60;
        List<CompletableFuture<HttpResponse<String>>> calls = IntStream.range(0, 8)
                .mapToObj(i -> http.sendAsync(request("/v1/completions",
                        "{\"prompt\": \"slow " + i + "\", \"max_tokens\": 12}"), HttpResponse.BodyHandlers.ofString()))
                .toList();
        int ok = 0;
        for (CompletableFuture<HttpResponse<String>> call : calls) {
            HttpResponse<String> r = call.get();
            if (r.statusCode() == 200) {
                ok++;
            } else {
                // more than max-waiting, or past the deadline in the queue: the overload answers, never a fault
                assertThat(r.statusCode()).as(r.body()).isIn(429, 503);
                assertThat(errorCode(r)).isIn("queue_full", "queue_timeout");
                assertThat(r.headers().firstValue("Retry-After")).isPresent();
            }
        }
        assertThat(ok).isPositive();
        assertThat(breaker().getState()).isEqualTo(CircuitBreaker.State.CLOSED);
        assertThat(breaker().getMetrics().getNumberOfFailedCalls()).isZero();
        assertThat(breaker().getMetrics().getNumberOfSlowCalls()).isZero();
    }

    @Test
    void aQueuedStreamGetsHeadersAndKeepAlivesAtOnceAndAnExpiredOneEndsWithAnErrorEventThenDone() throws Exception {
        engine.stepMillis = 1_000; // the running request's first step (prefill + decode) stalls past the deadline
        CompletableFuture<HttpResponse<String>> running = http.sendAsync(
                request("/v1/completions", "{\"prompt\": \"stall\", \"max_tokens\": 5}"),
                HttpResponse.BodyHandlers.ofString());
        TestWaits.until(() -> scheduler.runningCount() == 1);
        CompletableFuture<HttpResponse<Stream<String>>> stream = http.sendAsync(request("/v1/chat/completions",
                "{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}], \"max_tokens\": 3, \"stream\": true}"),
                HttpResponse.BodyHandlers.ofLines());
        CompletableFuture<HttpResponse<String>> queued = http.sendAsync(
                request("/v1/completions", "{\"prompt\": \"queued\", \"max_tokens\": 3}"),
                HttpResponse.BodyHandlers.ofString());

        // headers come while the stream still waits behind the stalled step
        HttpResponse<Stream<String>> response = stream.get();
        assertThat(scheduler.waitingCount() + scheduler.inFlightCount()).isPositive();
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("Content-Type")).hasValueSatisfying(
                type -> assertThat(type).startsWith("text/event-stream"));
        List<String> frames = response.body().filter(line -> !line.isEmpty()).toList();
        long keepAlives = frames.stream().takeWhile(line -> line.startsWith(":")).count();
        assertThat(keepAlives).as("%s", frames).isGreaterThanOrEqualTo(3);
        assertThat(frames.get(frames.size() - 1)).isEqualTo("data: [DONE]");
        JsonNode error = json.readTree(frames.get(frames.size() - 2).substring(6)).get("error");
        assertThat(error.get("code").stringValue()).isEqualTo("queue_timeout");

        HttpResponse<String> expired = queued.get();
        assertThat(expired.statusCode()).isEqualTo(503);
        assertThat(errorCode(expired)).isEqualTo("queue_timeout");
        assertThat(expired.headers().firstValue("Retry-After")).isPresent();
        HttpResponse<String> timedOut = running.get();
        assertThat(timedOut.statusCode()).isEqualTo(200);
        assertThat(json.readTree(timedOut.body()).get("choices").get(0).get("finish_reason").stringValue())
                .isEqualTo("timeout");
        assertThat(breaker().getMetrics().getNumberOfFailedCalls()).isZero();
    }
}
