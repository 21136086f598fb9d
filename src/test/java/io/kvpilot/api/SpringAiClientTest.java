package io.kvpilot.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.openai.errors.BadRequestException;
import com.openai.models.completions.CompletionUsage;
import io.kvpilot.serving.Scheduler;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.ai.chat.metadata.Usage;
import org.springframework.ai.chat.model.ChatResponse;
import org.springframework.ai.chat.prompt.Prompt;
import org.springframework.ai.openai.OpenAiChatModel;
import org.springframework.ai.openai.OpenAiChatOptions;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.web.server.LocalServerPort;

/**
 * Spring AI 2.0's OpenAI chat model against the real service and model: {@code kv_compression} goes in through the
 * chat options' {@code extraBody}, and since Spring AI's {@link Usage} has token counts only, {@code usage.kv_cache} is
 * read from its native usage (the OpenAI Java SDK's {@link CompletionUsage}, which keeps unknown fields) — the
 * example docs/clients.md gives.
 */
@RealModelServingTest
class SpringAiClientTest {

    @LocalServerPort
    int port;

    @Autowired
    Scheduler scheduler;

    private String model;

    @BeforeEach
    void ready() {
        TestWaits.until(scheduler::isReady);
        model = scheduler.engine().modelInfo().id();
    }

    private OpenAiChatModel chatModel(Map<String, Object> kvCompression) {
        return OpenAiChatModel.builder().options(OpenAiChatOptions.builder()
                .baseUrl("http://localhost:" + port + "/v1")
                .apiKey("test-key")
                .model(model)
                .maxTokens(8)
                .temperature(0.0)
                .timeout(Duration.ofSeconds(60))
                .maxRetries(0)
                .extraBody(Map.of("kv_compression", kvCompression))
                .build()).build();
    }

    @Test
    void kvCompressionGoesInThroughExtraBodyAndKvCacheComesBackInTheNativeUsage() {
        ChatResponse response = chatModel(Map.of("method", "keydiff", "ratio", 0.5, "bits", 8))
                .call(new Prompt("Tell me a short story about a rabbit."));

        assertThat(response.getResult().getOutput().getText()).isNotEmpty();
        Usage usage = response.getMetadata().getUsage();
        assertThat(usage.getCompletionTokens()).isBetween(1, 8);
        CompletionUsage openAiUsage = (CompletionUsage) usage.getNativeUsage();
        Map<?, ?> kvCache = openAiUsage._additionalProperties().get("kv_cache").convert(Map.class);
        assertThat(kvCache.get("method")).isEqualTo("keydiff");
        assertThat(((Number) kvCache.get("bits")).intValue()).isEqualTo(8);
        assertThat(kvCache.get("decided_by")).isEqualTo("request");
        long bytes = ((Number) kvCache.get("bytes")).longValue();
        assertThat(bytes).isPositive().isLessThan(((Number) kvCache.get("bytes_uncompressed")).longValue());
    }

    @Test
    void anUnknownMethodComesBackAsTheSdksBadRequestWithTheServersMessage() {
        OpenAiChatModel chat = chatModel(Map.of("method", "no_such_method"));

        assertThatThrownBy(() -> chat.call(new Prompt("Hello"))).isInstanceOf(BadRequestException.class)
                .hasMessageContaining("no_such_method")
                .satisfies(e -> assertThat(((BadRequestException) e).param()).hasValue("kv_compression"));
    }
}
