package io.kvpilot.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvpilot.serving.Scheduler;
import io.micrometer.core.instrument.MeterRegistry;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Base64;
import java.util.BitSet;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.web.server.LocalServerPort;
import reactor.core.Disposable;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** {@code POST /admin/kv/inspect} over HTTP (the JDK's client) against the real service and model. */
@RealModelServingTest
class KvInspectorApiTest {

    private static final String PROMPT = "Once upon a time, there was a little rabbit named Pip who lived under an "
            + "old oak tree. Pip loved carrots. One morning Pip found a shiny golden key next to the river.";

    @LocalServerPort
    int port;

    @Autowired
    Scheduler scheduler;

    @Autowired
    MeterRegistry meters;

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private final JsonMapper json = JsonMapper.builder().build();

    @BeforeEach
    void ready() {
        awaitReady(scheduler);
    }

    /** The model warms up after the web server starts; on a busy 2-core machine that takes longer than 20 s. */
    static void awaitReady(Scheduler scheduler) {
        long until = System.nanoTime() + Duration.ofSeconds(180).toNanos();
        while (!scheduler.isReady()) {
            assertThat(System.nanoTime()).as("the model is ready within 180 s").isLessThan(until);
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                throw new AssertionError(e);
            }
        }
    }

    private HttpResponse<String> post(String path, String key, String body) throws Exception {
        HttpRequest.Builder r = HttpRequest.newBuilder(URI.create("http://localhost:" + port + path))
                .timeout(Duration.ofSeconds(120)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body));
        if (key != null) {
            r.header("Authorization", "Bearer " + key);
        }
        return http.send(r.build(), HttpResponse.BodyHandlers.ofString());
    }

    private JsonNode inspect(String body) throws Exception {
        HttpResponse<String> r = post("/admin/kv/inspect", "admin-key", body);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return json.readTree(r.body());
    }

    @Test
    void reportsKeptPositionsBytesAnswersAndTheControllersCandidates() throws Exception {
        JsonNode d = inspect("""
                {"prompt": %s, "max_tokens": 12, "settings": [
                  {"method": "snapkv", "ratio": 0.5}, {"method": "keydiff", "ratio": 0.75, "bits": 4}, "auto"]}
                """.formatted(json.writeValueAsString(PROMPT)));

        int layers = d.get("layers").asInt();
        int heads = d.get("kv_heads").asInt();
        assertThat(layers * heads).isEqualTo(16); // kvpilot-mini: 8 layers, 2 KV heads
        JsonNode tokens = d.get("tokens");
        JsonNode tokenized = json.readTree(post("/tokenize", "test-key",
                "{\"prompt\": " + json.writeValueAsString(PROMPT) + "}").body());
        assertThat(tokens.size()).isEqualTo(tokenized.get("count").asInt());
        String text = d.get("text").asString();
        assertThat(text).contains("golden key");
        int end = 0;
        for (int i = 0; i < tokens.size(); i++) {
            JsonNode t = tokens.get(i);
            assertThat(t.get("id").asInt()).isEqualTo(tokenized.get("tokens").get(i).asInt());
            assertThat(t.get("start").asInt()).isEqualTo(end); // pieces laid end to end are the text
            end = t.get("end").asInt();
            assertThat(text.substring(t.get("start").asInt(), end)).isEqualTo(t.get("text").asString());
        }
        assertThat(end).isEqualTo(text.length());

        JsonNode base = d.get("uncompressed");
        assertThat(base.get("setting").asString()).isEqualTo("off");
        assertThat(base.get("kept_fraction").asDouble()).isEqualTo(1.0);
        base.get("kept_counts").forEach(c -> assertThat(c.asInt()).isEqualTo(layers * heads));
        assertThat(base.get("answer").asString()).isNotBlank();
        assertThat(base.get("completion_tokens").asInt()).isBetween(1, 12);

        JsonNode snap = d.get("results").get(0);
        assertThat(snap.get("applied").get("method").asString()).isEqualTo("snapkv");
        assertKeptMatchesCounts(snap, tokens.size(), layers, heads);
        // SnapKV keeps at most half the prompt per head, and always its observation window: the last token everywhere
        assertThat(snap.get("kept_fraction").asDouble()).isLessThanOrEqualTo(0.5);
        assertThat(snap.get("kept_counts").get(tokens.size() - 1).asInt()).isEqualTo(layers * heads);
        // held bytes count whole allocated blocks: half the entries may still fill the same blocks at the end
        assertThat(snap.get("bytes").asLong()).isLessThanOrEqualTo(base.get("bytes").asLong());
        assertThat(snap.get("answer").asString()).isEqualTo(completion(
                "{\"method\": \"snapkv\", \"ratio\": 0.5}", 12)); // what the same request gets from the API

        JsonNode quantized = d.get("results").get(1);
        assertKeptMatchesCounts(quantized, tokens.size(), layers, heads);
        assertThat(quantized.get("kept_fraction").asDouble()).isLessThanOrEqualTo(0.26);
        assertThat(quantized.get("bytes").asLong()).isLessThan(snap.get("bytes").asLong());
        assertThat(quantized.get("bytes_uncompressed").asLong()).isEqualTo(base.get("bytes_uncompressed").asLong());

        JsonNode auto = d.get("results").get(2);
        assertThat(auto.get("setting").asString()).isEqualTo("auto");
        assertThat(auto.get("decided_by").asString()).isEqualTo("controller");
        JsonNode decision = auto.get("decision");
        assertThat(decision.get("candidates").size()).isGreaterThan(1);
        JsonNode chosen = null;
        int chosenCount = 0;
        for (JsonNode c : decision.get("candidates")) {
            if (c.get("verdict").asString().equals("chosen")) {
                chosen = c;
                chosenCount++;
            }
        }
        assertThat(chosenCount).isEqualTo(1);
        assertThat(chosen.get("spec")).isEqualTo(auto.get("applied")).isEqualTo(decision.get("spec"));
        assertThat(snap.get("decision").isNull()).isTrue();

        // every generation ended and gave its KV back
        TestWaits.until(() -> scheduler.reservedKvBytes() == 0 && scheduler.kvBytesInUse() == 0);
    }

    private String completion(String compression, int maxTokens) throws Exception {
        HttpResponse<String> r = post("/v1/completions", "test-key", """
                {"prompt": %s, "max_tokens": %d, "temperature": 0, "kv_compression": %s}
                """.formatted(json.writeValueAsString(PROMPT), maxTokens, compression));
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return json.readTree(r.body()).get("choices").get(0).get("text").asString();
    }

    /** The aggregate per token is the sum of the per layer and head bitsets. */
    private static void assertKeptMatchesCounts(JsonNode result, int tokens, int layers, int heads) {
        int[] counts = new int[tokens];
        long kept = 0;
        for (int l = 0; l < layers; l++) {
            for (int h = 0; h < heads; h++) {
                BitSet bits = BitSet.valueOf(Base64.getDecoder().decode(result.get("kept").get(l).get(h).asString()));
                assertThat(bits.length()).isLessThanOrEqualTo(tokens);
                bits.stream().forEach(i -> counts[i]++);
                kept += bits.cardinality();
            }
        }
        for (int i = 0; i < tokens; i++) {
            assertThat(result.get("kept_counts").get(i).asInt()).as("token %d", i).isEqualTo(counts[i]);
        }
        assertThat(result.get("kept_fraction").asDouble())
                .isCloseTo((double) kept / ((long) layers * heads * tokens), org.assertj.core.data.Offset.offset(1e-9));
    }

    @Test
    void aClientThatLeavesCancelsEverySettingsGenerationAndFreesItsKv() {
        String prompt = "the rabbit ran to the river and back again ".repeat(90); // ~ 900 tokens, 9 long runs
        String body = "{\"prompt\": \"" + prompt + "\", \"max_tokens\": 128, \"settings\": [\"auto\", "
                + "{\"method\": \"snapkv\", \"ratio\": 0.5}, {\"method\": \"h2o\", \"ratio\": 0.5}, "
                + "{\"method\": \"tova\", \"ratio\": 0.5}, {\"method\": \"knorm\", \"ratio\": 0.5}, "
                + "{\"method\": \"keydiff\", \"ratio\": 0.5}, {\"method\": \"none\", \"bits\": 8}, "
                + "{\"method\": \"streaming_llm\", \"ratio\": 0.5}]}";
        double cancelledBefore = cancelled();
        Disposable inspection = WebClientSupport.complete(port, "/admin/kv/inspect", body, "admin-key").subscribe();
        TestWaits.until(() -> scheduler.kvBytesInUse() > 0);

        inspection.dispose();

        TestWaits.until(() -> scheduler.inFlightCount() == 0 && scheduler.kvBytesInUse() == 0,
                () -> "in flight " + scheduler.inFlightCount() + ", KV bytes " + scheduler.kvBytesInUse());
        assertThat(scheduler.reservedKvBytes()).isZero();
        assertThat(cancelled() - cancelledBefore).isGreaterThanOrEqualTo(1);
    }

    private double cancelled() {
        var counter = meters.find("kvpilot.request.success").tag("finish_reason", "cancelled").counter();
        return counter == null ? 0 : counter.count();
    }

    @Test
    void takesChatMessagesRenderedByTheTemplate() throws Exception {
        JsonNode d = inspect("""
                {"messages": [{"role": "user", "content": "Tell me about Pip the rabbit."}], "max_tokens": 4,
                 "settings": [{"method": "streaming_llm", "ratio": 0.5}]}
                """);
        assertThat(d.get("text").asString()).contains("Tell me about Pip the rabbit.");
        assertThat(d.get("results").get(0).get("kept_fraction").asDouble()).isLessThan(1.0);
    }

    @ParameterizedTest(name = "{1}")
    @CsvSource(delimiter = '|', value = {
        "{\"prompt\": \"hi\"}|settings",
        "{\"prompt\": \"hi\", \"settings\": []}|settings",
        "{\"prompt\": \"hi\", \"settings\": [\"auto\",\"auto\",\"auto\",\"auto\",\"auto\",\"auto\",\"auto\",\"auto\",\"auto\"]}|settings",
        "{\"prompt\": \"hi\", \"settings\": [\"auto\", {\"method\": \"snapkv\", \"bits\": 3}]}|settings[1].bits",
        "{\"prompt\": \"hi\", \"settings\": [{\"method\": \"snapkv\", \"ratio\": 1.5}]}|settings[0].ratio",
        "{\"prompt\": \"hi\", \"settings\": [{\"method\": \"no_such_method\"}]}|settings[0]",
        "{\"prompt\": \"hi\", \"settings\": [\"sometimes\"]}|settings[0]",
        "{\"prompt\": \"hi\", \"settings\": [\"auto\"], \"max_tokens\": 129}|max_tokens",
        "{\"prompt\": \"hi\", \"settings\": [\"auto\"], \"max_tokens\": 0}|max_tokens",
        "{\"prompt\": \"\", \"settings\": [\"auto\"]}|prompt",
        "{\"prompt\": 7, \"settings\": [\"auto\"]}|prompt",
        "{\"settings\": [\"auto\"]}|prompt",
        "{\"prompt\": \"hi\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"settings\": [\"auto\"]}|prompt",
        "{\"messages\": [], \"settings\": [\"auto\"]}|messages",
    })
    void badInputIsA400NamingTheField(String body, String param) throws Exception {
        HttpResponse<String> r = post("/admin/kv/inspect", "admin-key", body);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(400);
        JsonNode error = json.readTree(r.body()).get("error");
        assertThat(error.get("param").asString()).isEqualTo(param);
        assertThat(error.get("type").asString()).isEqualTo("invalid_request_error");
    }

    @Test
    void aPromptOverTheInspectorsLimitIsA400() throws Exception {
        String longPrompt = "the rabbit ran to the river and back again ".repeat(150); // > 1024 tokens
        HttpResponse<String> r = post("/admin/kv/inspect", "admin-key",
                "{\"prompt\": " + json.writeValueAsString(longPrompt) + ", \"settings\": [\"auto\"]}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(400);
        JsonNode error = json.readTree(r.body()).get("error");
        assertThat(error.get("param").asString()).isEqualTo("prompt");
        assertThat(error.get("message").asString()).contains("1024");
    }

    @Test
    void needsAnAdminKey() throws Exception {
        String body = "{\"prompt\": \"hi\", \"settings\": [\"auto\"]}";
        HttpResponse<String> none = post("/admin/kv/inspect", null, body);
        assertThat(none.statusCode()).isEqualTo(401);
        assertThat(json.readTree(none.body()).get("error").get("code").asString()).isEqualTo("invalid_api_key");
        HttpResponse<String> user = post("/admin/kv/inspect", "test-key", body);
        assertThat(user.statusCode()).isEqualTo(403);
        assertThat(json.readTree(user.body()).get("error").get("code").asString())
                .isEqualTo("insufficient_permissions");
        assertThat(post("/admin/kv/inspect", "wrong-key", body).statusCode()).isEqualTo(401);
    }

    @Test
    void thePageLoadsWithoutAKeyAndHoldsNoData() throws Exception {
        for (String path : new String[] {"/inspector", "/inspector/inspector.js", "/inspector/inspector.css"}) {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://localhost:" + port + path))
                    .GET().build(), HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).as(path).isEqualTo(200);
            assertThat(r.headers().firstValue("Content-Security-Policy")).get().asString().contains("script-src 'self'");
        }
        HttpResponse<String> other = http.send(HttpRequest.newBuilder(URI.create("http://localhost:" + port
                + "/inspector/application.yaml")).GET().build(), HttpResponse.BodyHandlers.ofString());
        assertThat(other.statusCode()).isEqualTo(401); // only the page's own files are open
    }
}
