package io.kvpilot.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvpilot.engine.model.RandomCheckpoint;
import io.kvpilot.policy.AdaptiveCompressionPolicy;
import io.kvpilot.serving.Scheduler;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * A Mistral-style model whose sliding window is shorter than its context, and whose head dimension (16) KIVI's groups of
 * 32 channels do not divide: eviction and 4/2-bit KIVI are refused before admission with a 400 on
 * {@code kv_compression}, streaming or not (docs/api.md), int8 is served, and the controller's candidates leave out
 * what the model cannot serve, so that {@code auto} never picks it.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
    "kvpilot.security.api-keys=test-key",
    "kvpilot.scheduler.idle-poll=5ms",
})
class SlidingWindowApiTest {

    @TempDir
    static Path dir;

    @DynamicPropertySource
    static void windowedModel(DynamicPropertyRegistry registry) {
        registry.add("kvpilot.model.path", () -> writeWindowedModel().toString());
    }

    private static Path writeWindowedModel() {
        try {
            Path model = dir.resolve("mistral-window");
            if (Files.exists(model.resolve("config.json"))) {
                return model;
            }
            RandomCheckpoint.write(model, RandomCheckpoint.Spec.llama(64, 2, 4, 2, 128, 8192).withContext(256), 3);
            Path config = model.resolve("config.json");
            String json = Files.readString(config).replace("\"LlamaForCausalLM\"", "\"MistralForCausalLM\"");
            Files.writeString(config, json.substring(0, json.lastIndexOf('}')) + ", \"sliding_window\": 16}");
            for (String f : new String[] {"tokenizer.json", "tokenizer_config.json"}) {
                Files.copy(Path.of("models/kvpilot-mini", f), model.resolve(f));
            }
            return model;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final String PROMPT = "Once upon a time there was a little fox who lived in the tall grass by the "
            + "river and ran home every evening";

    @LocalServerPort
    int port;

    @Autowired
    Scheduler scheduler;

    @Autowired
    AdaptiveCompressionPolicy policy;

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

    @BeforeEach
    void ready() throws Exception {
        // loading and warming a fresh model took over 20 s on the loaded 2-core test machine
        scheduler.loaded().get(3, java.util.concurrent.TimeUnit.MINUTES);
    }

    private HttpResponse<String> complete(String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/completions"))
                .header("Authorization", "Bearer test-key").header("Content-Type", "application/json")
                .timeout(Duration.ofSeconds(60)).POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void evictionIsA400OnKvCompressionBeforeAdmission() throws Exception {
        for (boolean stream : new boolean[] {false, true}) {
            HttpResponse<String> r = complete("{\"prompt\": \"" + PROMPT + "\", \"max_tokens\": 4, \"stream\": " + stream
                    + ", \"kv_compression\": {\"method\": \"snapkv\", \"ratio\": 0.5}}");

            assertThat(r.statusCode()).as("stream %s: %s", stream, r.body()).isEqualTo(400);
            assertThat(r.headers().firstValue("Content-Type")).get().asString().startsWith("application/json");
            JsonNode error = JSON.readTree(r.body()).get("error");
            assertThat(error.get("param").asString()).isEqualTo("kv_compression");
            assertThat(error.get("message").asString()).contains("sliding window");
        }
    }

    @Test
    void kiviWhoseGroupsDoNotDivideTheHeadDimIsA400BeforeAdmission() throws Exception {
        for (String spec : new String[] {"{\"method\": \"none\", \"bits\": 4}", "{\"method\": \"none\", \"bits\": 2}"}) {
            for (boolean stream : new boolean[] {false, true}) {
                HttpResponse<String> r = complete("{\"prompt\": \"" + PROMPT + "\", \"max_tokens\": 4, \"stream\": "
                        + stream + ", \"kv_compression\": " + spec + "}");

                assertThat(r.statusCode()).as("%s stream %s: %s", spec, stream, r.body()).isEqualTo(400);
                JsonNode error = JSON.readTree(r.body()).get("error");
                assertThat(error.get("param").asString()).isEqualTo("kv_compression");
                assertThat(error.get("message").asString()).contains("head dimension of 16");
            }
        }
    }

    @Test
    void theControllerChoosesOnlyAmongSettingsTheModelServes() throws Exception {
        assertThat(policy.candidates()).as("candidates").isNotEmpty()
                .allSatisfy(c -> assertThat(c.ratio() == 0 && (c.bits() == 16 || c.bits() == 8)).as(c.toString()).isTrue())
                .anySatisfy(c -> assertThat(c.bits()).isEqualTo(8));
        HttpResponse<String> r = complete("{\"prompt\": \"" + PROMPT + "\", \"max_tokens\": 4, "
                + "\"kv_compression\": \"auto\"}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    }

    @Test
    void quantizationAloneIsServed() throws Exception {
        HttpResponse<String> r = complete("{\"prompt\": \"" + PROMPT + "\", \"max_tokens\": 4, "
                + "\"kv_compression\": {\"method\": \"none\", \"bits\": 8}}");

        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(JSON.readTree(r.body()).at("/usage/kv_cache/bits").asInt()).isEqualTo(8);
    }
}
