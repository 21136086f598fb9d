package io.kvpilot.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvpilot.serving.Scheduler;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.web.server.LocalServerPort;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * docs/api.md's definition of {@code usage.kv_cache.bytes_uncompressed} on the real model: the positions fed times what
 * the engine's dense fp32 cache holds per token, not the checkpoint's dtype (kvpilot-mini is bf16), so an uncompressed
 * 16-bit request holds at least {@code bytes_uncompressed} (whole 32-token blocks), never half of it.
 */
@RealModelServingTest
class KvBytesDefinitionTest {

    private static final JsonMapper JSON = JsonMapper.builder().build();

    @LocalServerPort
    int port;

    @Autowired
    Scheduler scheduler;

    @BeforeEach
    void ready() throws Exception {
        scheduler.loaded().get(3, java.util.concurrent.TimeUnit.MINUTES);
    }

    private JsonNode kvCache(String compression) throws Exception {
        HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + port + "/v1/completions"))
                .header("Authorization", "Bearer test-key").header("Content-Type", "application/json")
                .timeout(Duration.ofSeconds(60))
                .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\": \"Once upon a time, there was a little rabbit "
                        + "who lived in a hole under a big oak tree.\", \"max_tokens\": 6, \"ignore_eos\": true, "
                        + "\"temperature\": 0, \"kv_compression\": " + compression + "}"))
                .build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return JSON.readTree(r.body()).get("usage");
    }

    @Test
    void bytesUncompressedIsTheDenseFp32CacheOfThePositionsFed() throws Exception {
        JsonNode config = JSON.readTree(Files.readString(Path.of("models/kvpilot-mini/config.json")));
        assertThat(config.get("torch_dtype").asString()).as("the checkpoint is 16-bit").isEqualTo("bfloat16");
        long fp32PerToken = 2L * config.get("num_hidden_layers").asInt() * config.get("num_key_value_heads").asInt()
                * config.get("head_dim").asInt() * Float.BYTES;

        JsonNode off = kvCache("\"off\"");
        long positions = off.get("prompt_tokens").asLong() + off.get("completion_tokens").asLong() - 1;

        assertThat(off.at("/kv_cache/bytes_uncompressed").asLong()).isEqualTo(positions * fp32PerToken);
        long held = off.at("/kv_cache/bytes").asLong();
        assertThat(held).as("16 bits are stored as fp32, in whole 32-token blocks")
                .isGreaterThanOrEqualTo(positions * fp32PerToken).isLessThan((positions + 64) * fp32PerToken);
        assertThat(held % (32 * fp32PerToken)).isZero();
        JsonNode int8 = kvCache("{\"method\": \"none\", \"bits\": 8}");
        assertThat(int8.at("/kv_cache/bytes_uncompressed").asLong()).isEqualTo(positions * fp32PerToken);
    }
}
