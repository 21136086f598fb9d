package io.kvpilot.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.JsonValue;
import com.openai.errors.NotFoundException;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import com.openai.models.completions.CompletionUsage;
import com.openai.models.models.Model;
import io.kvpilot.serving.Scheduler;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.web.server.LocalServerPort;

/**
 * OpenAI's own Java SDK against the real service and model: {@code models.retrieve}, and {@code kv_compression} sent
 * as an additional body property with {@code usage.kv_cache} read back from the usage's additional properties (the
 * typed {@code CompletionUsage} has no field for it) — the example docs/api.md gives.
 */
@RealModelServingTest
class OpenAiJavaSdkTest {

    @LocalServerPort
    int port;

    @Autowired
    Scheduler scheduler;

    private OpenAIClient client;
    private String model;

    @BeforeEach
    void ready() {
        TestWaits.until(scheduler::isReady);
        client = OpenAIOkHttpClient.builder().baseUrl("http://localhost:" + port + "/v1").apiKey("test-key")
                .timeout(Duration.ofSeconds(60)).maxRetries(0).build();
        model = scheduler.engine().modelInfo().id();
    }

    @Test
    void modelsRetrieveFindsTheServedModelAndNotAnother() {
        Model m = client.models().retrieve(model);
        assertThat(m.id()).isEqualTo(model);
        assertThatThrownBy(() -> client.models().retrieve("gpt-4o")).isInstanceOf(NotFoundException.class);
    }

    @Test
    void kvCompressionGoesInAsAnExtraBodyPropertyAndKvCacheComesBackInUsage() {
        CompletionCreateParams params = CompletionCreateParams.builder()
                .model(model)
                .prompt("Once upon a time, there was a little rabbit who")
                .maxTokens(8)
                .temperature(0.0)
                .putAdditionalBodyProperty("kv_compression",
                        JsonValue.from(Map.of("method", "keydiff", "ratio", 0.5, "bits", 8)))
                .build();

        Completion completion = client.completions().create(params);

        CompletionUsage usage = completion.usage().orElseThrow();
        assertThat(usage.completionTokens()).isBetween(1L, 8L);
        Map<?, ?> kvCache = usage._additionalProperties().get("kv_cache").convert(Map.class);
        assertThat(kvCache.get("method")).isEqualTo("keydiff");
        assertThat(((Number) kvCache.get("bits")).intValue()).isEqualTo(8);
        assertThat(kvCache.get("decided_by")).isEqualTo("request");
        long bytes = ((Number) kvCache.get("bytes")).longValue();
        long uncompressed = ((Number) kvCache.get("bytes_uncompressed")).longValue();
        assertThat(bytes).isPositive().isLessThan(uncompressed);
    }
}
