package io.kvpilot.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.github.resilience4j.circuitbreaker.CircuitBreakerRegistry;
import io.kvpilot.serving.Scheduler;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.web.server.LocalServerPort;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The API's corners as a client meets them, over HTTP with the JDK's client: CORS for browser pages (the fake
 * serving context allows {@code https://app.example}), 415 for a body that is not declared JSON, several prompts in
 * one completion, and {@code system_fingerprint}.
 */
@FakeServingTest
class ApiCornersTest {

    private static final String ALLOWED = "https://app.example";
    private static final JsonMapper JSON = JsonMapper.builder().build();

    @LocalServerPort
    int port;

    @Autowired
    Scheduler scheduler;

    @Autowired
    CircuitBreakerRegistry circuitBreakers;

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @BeforeEach
    void ready() {
        TestWaits.until(scheduler::isReady);
        circuitBreakers.circuitBreaker("generation").reset(); // another class on this context may have opened it
    }

    @AfterEach
    void drained() {
        TestWaits.until(() -> scheduler.runningCount() == 0 && scheduler.waitingCount() == 0);
    }

    private HttpResponse<String> send(HttpRequest.Builder request) throws IOException, InterruptedException {
        return http.send(request.timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private HttpRequest.Builder to(String path) {
        return HttpRequest.newBuilder(URI.create("http://localhost:" + port + path));
    }

    private HttpResponse<String> preflight(String path, String origin, String method, String headers)
            throws Exception {
        HttpRequest.Builder request = to(path).method("OPTIONS", HttpRequest.BodyPublishers.noBody())
                .header("Origin", origin).header("Access-Control-Request-Method", method);
        if (headers != null) {
            request.header("Access-Control-Request-Headers", headers);
        }
        return send(request);
    }

    private HttpResponse<String> complete(String body) throws Exception {
        return send(to("/v1/completions").header("Authorization", "Bearer test-key")
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)));
    }

    private static JsonNode error(HttpResponse<String> response) {
        assertThat(response.headers().firstValue("Content-Type")).hasValueSatisfying(
                type -> assertThat(type).startsWith("application/json"));
        return JSON.readTree(response.body()).get("error");
    }

    @Test
    void aPreflightFromAnAllowedOriginIsAnsweredWithoutAKey() throws Exception {
        HttpResponse<String> response = preflight("/v1/chat/completions", ALLOWED, "POST",
                "authorization,content-type,x-request-id");

        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("Access-Control-Allow-Origin")).hasValue(ALLOWED);
        assertThat(response.headers().firstValue("Access-Control-Allow-Methods").orElseThrow())
                .contains("POST").contains("GET");
        assertThat(response.headers().firstValue("Access-Control-Allow-Headers").orElseThrow().toLowerCase())
                .contains("authorization").contains("content-type").contains("x-request-id");
        assertThat(response.headers().firstValue("Access-Control-Max-Age")).hasValue("1800");
    }

    @Test
    void aPreflightFromAnotherOriginOrWithoutCorsStillNeedsAKey() throws Exception {
        HttpResponse<String> other = preflight("/v1/chat/completions", "https://evil.example", "POST", null);
        assertThat(other.statusCode()).isEqualTo(401);
        assertThat(other.headers().firstValue("Access-Control-Allow-Origin")).isEmpty();
        assertThat(error(other).get("code").stringValue()).isEqualTo("invalid_api_key");

        // an OPTIONS that is not a preflight (no Access-Control-Request-Method) gets no pass either
        HttpResponse<String> plain = send(to("/v1/models").method("OPTIONS", HttpRequest.BodyPublishers.noBody())
                .header("Origin", ALLOWED));
        assertThat(plain.statusCode()).isEqualTo(401);
    }

    @Test
    void aPreflightForAMethodOrHeaderNotAllowedIsRefused() throws Exception {
        HttpResponse<String> method = preflight("/v1/models", ALLOWED, "DELETE", null);
        assertThat(method.statusCode()).isEqualTo(403);
        assertThat(method.headers().firstValue("Access-Control-Allow-Origin")).isEmpty();
        assertThat(error(method).get("code").stringValue()).isEqualTo("cors_not_allowed");

        HttpResponse<String> header = preflight("/v1/models", ALLOWED, "GET", "x-secret-header");
        assertThat(header.statusCode()).isEqualTo(403);
    }

    @Test
    void aPreflightOnANonCanonicalPathIsStillA400() throws Exception {
        HttpResponse<String> response = preflight("/v1/%63ompletions", ALLOWED, "POST", null);

        assertThat(response.statusCode()).isEqualTo(400);
        assertThat(error(response).get("code").stringValue()).isEqualTo("invalid_path");
    }

    @Test
    void theActualCrossOriginRequestNeedsItsKeyAndItsAnswersAreReadableByThePage() throws Exception {
        HttpResponse<String> keyless = send(to("/v1/models").header("Origin", ALLOWED));
        assertThat(keyless.statusCode()).isEqualTo(401);
        // labelled, so the page can read why instead of seeing an opaque network error
        assertThat(keyless.headers().firstValue("Access-Control-Allow-Origin")).hasValue(ALLOWED);

        HttpResponse<String> keyed = send(to("/v1/models").header("Origin", ALLOWED)
                .header("Authorization", "Bearer test-key").header("x-request-id", "page-1"));
        assertThat(keyed.statusCode()).isEqualTo(200);
        assertThat(keyed.headers().firstValue("Access-Control-Allow-Origin")).hasValue(ALLOWED);
        assertThat(keyed.headers().firstValue("Access-Control-Expose-Headers").orElseThrow().toLowerCase())
                .contains("x-request-id").contains("retry-after");
        assertThat(keyed.headers().firstValue("x-request-id")).hasValue("page-1");

        HttpResponse<String> foreign = send(to("/v1/models").header("Origin", "https://evil.example")
                .header("Authorization", "Bearer test-key"));
        assertThat(foreign.statusCode()).isEqualTo(403);
        assertThat(foreign.headers().firstValue("Access-Control-Allow-Origin")).isEmpty();
        assertThat(error(foreign).get("code").stringValue()).isEqualTo("cors_not_allowed");
    }

    @Test
    void aBodyThatIsNotDeclaredJsonIsA415InOpenAisShape() throws Exception {
        for (String path : List.of("/v1/completions", "/v1/chat/completions", "/tokenize", "/detokenize")) {
            HttpResponse<String> text = send(to(path).header("Authorization", "Bearer test-key")
                    .header("Content-Type", "text/plain").POST(HttpRequest.BodyPublishers.ofString("{}")));
            HttpResponse<String> none = send(to(path).header("Authorization", "Bearer test-key")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\": \"x\"}")));

            for (HttpResponse<String> response : List.of(text, none)) {
                assertThat(response.statusCode()).as(path).isEqualTo(415);
                JsonNode error = error(response);
                assertThat(error.get("type").stringValue()).isEqualTo("invalid_request_error");
                assertThat(error.get("code").stringValue()).isEqualTo("unsupported_media_type");
                assertThat(error.get("message").stringValue()).contains("Content-Type: application/json")
                        .doesNotContain("bodyType").doesNotContain("java.");
                assertThat(response.headers().firstValue("Accept")).hasValueSatisfying(
                        accept -> assertThat(accept).contains("application/json"));
            }
            assertThat(error(text).get("message").stringValue()).contains("text/plain");
        }
    }

    @Test
    void aWrongMethodAndAnUnacceptableAcceptAreToldInOurWords() throws Exception {
        HttpResponse<String> put = send(to("/v1/completions").header("Authorization", "Bearer test-key")
                .header("Content-Type", "application/json").PUT(HttpRequest.BodyPublishers.ofString("{}")));
        assertThat(put.statusCode()).isEqualTo(405);
        assertThat(put.headers().firstValue("Allow")).hasValue("POST");
        assertThat(error(put).get("code").stringValue()).isEqualTo("method_not_allowed");
        assertThat(error(put).get("message").stringValue()).isEqualTo(
                "Method PUT is not allowed at /v1/completions; allowed: [POST]");

        HttpResponse<String> xml = send(to("/v1/models").header("Authorization", "Bearer test-key")
                .header("Accept", "application/xml"));
        assertThat(xml.statusCode()).isEqualTo(406);
        assertThat(error(xml).get("code").stringValue()).isEqualTo("not_acceptable");
        assertThat(error(xml).get("message").stringValue()).contains("GET /v1/models answers only")
                .doesNotContain("Could not find");
    }

    @Test
    void severalPromptsAreServedAsOneChoiceEach() throws Exception {
        // as many prompts as this context's scheduler queues (max-waiting 2): each is admitted as its own sequence
        HttpResponse<String> response = complete("{\"prompt\": [\"Once upon\", [5, 6, 7]], "
                + "\"max_tokens\": 4, \"temperature\": 0, \"ignore_eos\": true}");

        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        JsonNode body = JSON.readTree(response.body());
        JsonNode choices = body.get("choices");
        assertThat(choices).hasSize(2);
        for (int i = 0; i < 2; i++) {
            assertThat(choices.get(i).get("index").intValue()).isEqualTo(i);
            assertThat(choices.get(i).get("finish_reason").stringValue()).isEqualTo("length");
        }
        // each choice is its prompt's own greedy continuation: the same as that prompt sent alone
        List<String> alone = List.of("\"Once upon\"", "[5, 6, 7]");
        for (int i = 0; i < 2; i++) {
            JsonNode single = JSON.readTree(complete("{\"prompt\": " + alone.get(i)
                    + ", \"max_tokens\": 4, \"temperature\": 0, \"ignore_eos\": true}").body());
            assertThat(choices.get(i).get("text").stringValue())
                    .isEqualTo(single.get("choices").get(0).get("text").stringValue());
        }
        assertThat(choices.get(0).get("text").stringValue()).isNotEqualTo(choices.get(1).get("text").stringValue());
        JsonNode usage = body.get("usage");
        assertThat(usage.get("completion_tokens").intValue()).isEqualTo(8);
        assertThat(usage.get("prompt_tokens").intValue()).isGreaterThanOrEqualTo("Once upon".length() + 3);
        assertThat(usage.get("kv_cache").get("bytes").longValue()).isPositive();
    }

    @Test
    void severalPromptsStreamWithTheirIndexAndOneUsageChunkAtTheEnd() throws Exception {
        HttpResponse<String> response = complete("{\"prompt\": [\"ab\", \"cd\"], \"max_tokens\": 3, "
                + "\"ignore_eos\": true, \"stream\": true, \"stream_options\": {\"include_usage\": true}}");

        assertThat(response.statusCode()).isEqualTo(200);
        List<JsonNode> chunks = new ArrayList<>();
        for (String line : response.body().split("\n")) {
            if (line.startsWith("data: {")) {
                chunks.add(JSON.readTree(line.substring(6)));
            }
        }
        Set<Integer> finished = new HashSet<>();
        for (JsonNode chunk : chunks.subList(0, chunks.size() - 1)) {
            JsonNode choice = chunk.get("choices").get(0);
            if (choice.get("finish_reason").isString()) {
                finished.add(choice.get("index").intValue());
            }
            assertThat(chunk.get("usage").isNull()).isTrue();
        }
        assertThat(finished).containsExactlyInAnyOrder(0, 1);
        JsonNode last = chunks.get(chunks.size() - 1);
        assertThat(last.get("choices")).isEmpty();
        assertThat(last.get("usage").get("completion_tokens").intValue()).isEqualTo(6);
        assertThat(response.body()).endsWith("data: [DONE]\n\n");
    }

    @Test
    void morePromptsThanAllowedOrAMixedArrayAreA400NamingPrompt() throws Exception {
        StringBuilder many = new StringBuilder("{\"prompt\": [");
        for (int i = 0; i <= RequestReader.MAX_PROMPTS; i++) {
            many.append(i == 0 ? "" : ", ").append("\"p\"");
        }
        for (String body : List.of(many + "]}", "{\"prompt\": [\"a\", 5]}", "{\"prompt\": [\"a\", []]}",
                "{\"prompt\": [[1, -2]]}")) {
            HttpResponse<String> response = complete(body);
            assertThat(response.statusCode()).as(body).isEqualTo(400);
            assertThat(error(response).get("param").stringValue()).isEqualTo("prompt");
        }
    }

    @Test
    void systemFingerprintIsTheSameOnEveryAnswerOfTheProcess() throws Exception {
        JsonNode text = JSON.readTree(complete("{\"prompt\": \"x\", \"max_tokens\": 2}").body());
        HttpResponse<String> chat = send(to("/v1/chat/completions").header("Authorization", "Bearer test-key")
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(
                        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 2, "
                                + "\"stream\": true}")));

        String fingerprint = text.get("system_fingerprint").stringValue();
        assertThat(fingerprint).matches("fp_[0-9a-f]{12}");
        int chunks = 0;
        for (String line : chat.body().split("\n")) {
            if (line.startsWith("data: {")) {
                assertThat(JSON.readTree(line.substring(6)).get("system_fingerprint").stringValue())
                        .isEqualTo(fingerprint);
                chunks++;
            }
        }
        assertThat(chunks).isGreaterThanOrEqualTo(2);
    }
}
