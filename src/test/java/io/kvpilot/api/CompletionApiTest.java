package io.kvpilot.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilience4j.bulkhead.Bulkhead;
import io.github.resilience4j.bulkhead.BulkheadRegistry;
import io.github.resilience4j.circuitbreaker.CircuitBreakerRegistry;
import io.kvpilot.serving.FakeEngine;
import io.kvpilot.serving.Scheduler;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.http.MediaType;
import org.springframework.test.web.reactive.server.WebTestClient;
import reactor.core.Disposable;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** The OpenAI-compatible endpoints over HTTP, on the fake engine. */
@FakeServingTest
@ExtendWith(OutputCaptureExtension.class)
class CompletionApiTest {

    @Autowired
    WebTestClient client;

    @Autowired
    Scheduler scheduler;

    @Autowired
    FakeEngine engine;

    @Autowired
    JsonMapper json;

    @LocalServerPort
    int port;

    @Autowired
    CircuitBreakerRegistry circuitBreakers;

    @Autowired
    BulkheadRegistry bulkheads;

    @BeforeEach
    void ready() {
        TestWaits.until(scheduler::isReady);
        engine.stepMillis = 0;
    }

    @AfterEach
    void reset() {
        engine.failingSteps.set(0);
        circuitBreakers.circuitBreaker("generation").reset();
    }

    private JsonNode post(String path, String body) {
        byte[] bytes = client.post().uri(path).header("Authorization", "Bearer test-key")
                .contentType(MediaType.APPLICATION_JSON).bodyValue(body).exchange()
                .expectStatus().isOk().expectBody().returnResult().getResponseBody();
        return json.readTree(bytes);
    }

    private List<String> streamLines(String path, String body) {
        String raw = client.post().uri(path).header("Authorization", "Bearer test-key")
                .contentType(MediaType.APPLICATION_JSON).bodyValue(body).exchange()
                .expectStatus().isOk()
                .expectHeader().contentTypeCompatibleWith(MediaType.TEXT_EVENT_STREAM)
                .expectBody(String.class).returnResult().getResponseBody();
        // SSE comments (": keep-alive", sent at once and while queued) are not events: clients skip them
        return java.util.Arrays.stream(raw.split("\n\n")).filter(frame -> !frame.startsWith(":")).toList();
    }

    @Test
    void completionReturnsTextFinishReasonAndUsage() {
        JsonNode r = post("/v1/completions", """
                {"model": "fake-model", "prompt": "hello", "max_tokens": 5, "temperature": 0}""");

        assertThat(r.get("object").stringValue()).isEqualTo("text_completion");
        assertThat(r.get("choices").get(0).get("text").stringValue()).hasSize(5);
        assertThat(r.get("choices").get(0).get("finish_reason").stringValue()).isEqualTo("length");
        assertThat(r.get("usage").get("prompt_tokens").intValue()).isEqualTo(6);
        assertThat(r.get("usage").get("completion_tokens").intValue()).isEqualTo(5);
        assertThat(r.get("usage").get("total_tokens").intValue()).isEqualTo(11);
    }

    @Test
    void usageReportsTheKvCacheTheSequenceHeld() {
        JsonNode kv = post("/v1/completions", """
                {"prompt": "hello", "max_tokens": 5, "kv_compression": "off"}""").get("usage").get("kv_cache");

        assertThat(kv.get("method").stringValue()).isEqualTo("none");
        assertThat(kv.get("bits").intValue()).isEqualTo(16);
        // 6 prompt tokens and 4 of the 5 generated are in the cache (the last is never fed back): one 32-token block
        assertThat(kv.get("bytes").longValue()).isEqualTo(32L * FakeEngine.KV_BYTES_PER_TOKEN);
        assertThat(kv.get("bytes_uncompressed").longValue()).isEqualTo(10L * FakeEngine.KV_BYTES_PER_TOKEN);
        assertThat(kv.get("decided_by").stringValue()).isEqualTo("request");
    }

    @Test
    void requestedCompressionIsAppliedAndReported() {
        JsonNode kv = post("/v1/completions", """
                {"prompt": "hello", "max_tokens": 5, "kv_compression": {"method": "snapkv", "ratio": 0.5, "bits": 8}}
                """).get("usage").get("kv_cache");

        assertThat(kv.get("method").stringValue()).isEqualTo("snapkv");
        assertThat(kv.get("ratio").doubleValue()).isEqualTo(0.5);
        assertThat(kv.get("bits").intValue()).isEqualTo(8);
        assertThat(kv.get("bytes").longValue()).isLessThan(kv.get("bytes_uncompressed").longValue());
    }

    @Test
    void autoIsTheControllersAndLeavesARequestUncompressedOnAnIdleServer() {
        JsonNode kv = post("/v1/completions", """
                {"prompt": "hello", "max_tokens": 2, "kv_compression": "auto"}""").get("usage").get("kv_cache");

        assertThat(kv.get("method").stringValue()).isEqualTo("none");
        assertThat(kv.get("decided_by").stringValue()).isEqualTo("controller");
    }

    @Test
    void chatCompletionAppliesTheChatTemplateAndAnswersAsAssistant() {
        JsonNode r = post("/v1/chat/completions", """
                {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}""");

        assertThat(r.get("object").stringValue()).isEqualTo("chat.completion");
        assertThat(r.get("choices").get(0).get("message").get("role").stringValue()).isEqualTo("assistant");
        assertThat(r.get("choices").get(0).get("message").get("content").stringValue()).hasSize(4);
        // "<user>hi\n<assistant>" is 20 characters, one token each
        assertThat(r.get("usage").get("prompt_tokens").intValue()).isEqualTo(20);
    }

    @Test
    void streamSendsDataLinesEndingWithDone() {
        List<String> lines = streamLines("/v1/completions", """
                {"prompt": "hello", "max_tokens": 3, "stream": true}""");

        assertThat(lines).allMatch(l -> l.startsWith("data: "));
        assertThat(lines.get(lines.size() - 1)).isEqualTo("data: [DONE]");
        StringBuilder text = new StringBuilder();
        String finish = null;
        for (String line : lines.subList(0, lines.size() - 1)) {
            JsonNode choice = json.readTree(line.substring(6)).get("choices").get(0);
            text.append(choice.get("text").stringValue());
            finish = choice.get("finish_reason").isNull() ? finish : choice.get("finish_reason").stringValue();
        }
        assertThat(text).hasSize(3);
        assertThat(finish).isEqualTo("length");
    }

    @Test
    void streamWithIncludeUsageEndsWithAUsageChunk() {
        List<String> lines = streamLines("/v1/chat/completions", """
                {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 3, "stream": true,
                 "stream_options": {"include_usage": true}}""");

        JsonNode usageChunk = json.readTree(lines.get(lines.size() - 2).substring(6));
        assertThat(usageChunk.get("choices")).isEmpty();
        assertThat(usageChunk.get("usage").get("completion_tokens").intValue()).isEqualTo(3);
        assertThat(usageChunk.get("usage").get("kv_cache").get("bytes").longValue()).isPositive();
    }

    @Test
    void chatStreamAnnouncesTheAssistantRoleFirst() {
        List<String> lines = streamLines("/v1/chat/completions", """
                {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2, "stream": true}""");

        JsonNode first = json.readTree(lines.get(0).substring(6));
        assertThat(first.get("object").stringValue()).isEqualTo("chat.completion.chunk");
        assertThat(first.get("choices").get(0).get("delta").get("role").stringValue()).isEqualTo("assistant");
    }

    @Test
    void engineFailureDuringAStreamEndsItWithAnErrorEventThenDone() {
        engine.failingSteps.set(1);

        List<String> lines = streamLines("/v1/completions", """
                {"prompt": "boom", "max_tokens": 3, "stream": true}""");

        assertThat(lines.get(lines.size() - 1)).isEqualTo("data: [DONE]");
        JsonNode error = json.readTree(lines.get(lines.size() - 2).substring(6)).get("error");
        assertThat(error.get("code").stringValue()).isEqualTo("engine_error");
    }

    @Test
    void modelsListsTheServedModel() {
        JsonNode r = json.readTree(client.get().uri("/v1/models").header("Authorization", "Bearer test-key")
                .exchange().expectStatus().isOk().expectBody().returnResult().getResponseBody());

        assertThat(r.get("data").get(0).get("id").stringValue()).isEqualTo("fake-model");
        assertThat(r.get("data").get(0).get("max_model_len").intValue()).isEqualTo(256);
    }

    @Test
    void modelsRetrieveAnswersTheServedModelAndA404ForAnother() {
        JsonNode r = json.readTree(client.get().uri("/v1/models/fake-model").header("Authorization", "Bearer test-key")
                .exchange().expectStatus().isOk().expectBody().returnResult().getResponseBody());
        assertThat(r.get("id").stringValue()).isEqualTo("fake-model");
        assertThat(r.get("object").stringValue()).isEqualTo("model");

        JsonNode missing = json.readTree(client.get().uri("/v1/models/gpt-4o").header("Authorization", "Bearer test-key")
                .exchange().expectStatus().isNotFound().expectBody().returnResult().getResponseBody());
        assertThat(missing.get("error").get("code").stringValue()).isEqualTo("model_not_found");
        assertThat(missing.get("error").get("param").stringValue()).isEqualTo("model");
    }

    @Test
    void everyResponseCarriesARequestIdTheCallersWhenWellFormed() {
        String echoed = client.get().uri("/v1/models").header("Authorization", "Bearer test-key")
                .header("x-request-id", "gateway-42.a").exchange().expectStatus().isOk()
                .returnResult(String.class).getResponseHeaders().getFirst("x-request-id");
        assertThat(echoed).isEqualTo("gateway-42.a");
        String generated = client.get().uri("/v1/models").header("x-request-id", "bad id\twith spaces")
                .exchange().expectStatus().isUnauthorized() // a refusal carries one too
                .returnResult(String.class).getResponseHeaders().getFirst("x-request-id");
        assertThat(generated).startsWith("req-").hasSizeGreaterThan(20);
    }

    @Test
    void tokenizeAndDetokenizeRoundTrip() {
        JsonNode tokens = post("/tokenize", """
                {"prompt": "abc"}""");
        JsonNode text = post("/detokenize", "{\"tokens\": " + tokens.get("tokens") + "}");

        assertThat(tokens.get("count").intValue()).isEqualTo(4);
        assertThat(text.get("prompt").stringValue()).isEqualTo("abc");
    }

    @Test
    void disconnectMidStreamFreesTheSequencesKv() {
        engine.stepMillis = 10;
        long before = engine.kvBytesInUse();
        Disposable stream = WebClientSupport.stream(port, "/v1/completions",
                "{\"prompt\": \"long\", \"max_tokens\": 200, \"stream\": true}", "test-key").subscribe();
        TestWaits.until(() -> engine.kvBytesInUse() > before);

        stream.dispose();

        TestWaits.until(() -> engine.kvBytesInUse() == before && scheduler.runningCount() == 0);
        assertThat(scheduler.reservedKvBytes()).isZero();
    }

    @Test
    void disconnectOfANonStreamingRequestFreesItsKv() {
        engine.stepMillis = 10;
        long before = engine.kvBytesInUse();
        Disposable request = WebClientSupport.complete(port, "/v1/completions",
                "{\"prompt\": \"long\", \"max_tokens\": 200}", "test-key").subscribe();
        TestWaits.until(() -> engine.kvBytesInUse() > before);

        request.dispose();

        TestWaits.until(() -> engine.kvBytesInUse() == before && scheduler.runningCount() == 0);
        assertThat(scheduler.reservedKvBytes()).isZero();
    }

    @Test
    void disconnectsAtEveryMomentGiveEveryPermitAndByteBack(CapturedOutput output) throws InterruptedException {
        engine.stepMillis = 2;
        Bulkhead bulkhead = bulkheads.bulkhead("generation");
        int permits = bulkhead.getBulkheadConfig().getMaxConcurrentCalls();
        long before = engine.kvBytesInUse();
        java.util.Random random = new java.util.Random(7);
        // Hang up before the request is sent, while the controller prepares it, before the response is written, and
        // mid-stream: a request whose event stream nobody ever subscribed to must still give back what it took.
        for (int i = 0; i < 300; i++) {
            Disposable stream = WebClientSupport.stream(port, "/v1/completions",
                    "{\"prompt\": \"p\", \"max_tokens\": 50, \"stream\": " + (i % 3 != 0) + "}", "test-key")
                    .subscribe(line -> {}, error -> {});
            Thread.sleep(random.nextInt(4));
            stream.dispose();
        }

        TestWaits.until(() -> scheduler.runningCount() == 0 && scheduler.waitingCount() == 0
                && bulkhead.getMetrics().getAvailableConcurrentCalls() == permits
                && engine.kvBytesInUse() == before,
                () -> "running " + scheduler.runningCount() + ", waiting " + scheduler.waitingCount()
                        + ", bulkhead permits free " + bulkhead.getMetrics().getAvailableConcurrentCalls() + " of "
                        + permits + ", KV bytes " + engine.kvBytesInUse() + " (before: " + before + ")");
        assertThat(scheduler.reservedKvBytes()).isZero();
        // a client hanging up is routine, not an error of ours: no error log, no attempt to answer it
        assertThat(output.getOut() + output.getErr()).doesNotContain("Unexpected error while handling a request")
                .doesNotContain("already committed");
    }
}
