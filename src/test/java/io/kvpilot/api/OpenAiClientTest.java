package io.kvpilot.api;

import static org.assertj.core.api.Assertions.assertThat;

import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.StreamingResponseHandler;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.openai.OpenAiChatModel;
import dev.langchain4j.model.openai.OpenAiChatRequestParameters;
import dev.langchain4j.model.openai.OpenAiChatResponseMetadata;
import dev.langchain4j.model.openai.OpenAiLanguageModel;
import dev.langchain4j.model.openai.OpenAiStreamingChatModel;
import dev.langchain4j.model.openai.OpenAiStreamingLanguageModel;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.model.output.Response;
import io.kvpilot.serving.Scheduler;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.web.server.LocalServerPort;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** A real OpenAI client library (LangChain4j's OpenAI module) against the real service and model. */
@RealModelServingTest
class OpenAiClientTest {

    @LocalServerPort
    int port;

    @Autowired
    Scheduler scheduler;

    private String baseUrl;
    private String model;

    @BeforeEach
    void ready() {
        TestWaits.until(scheduler::isReady);
        baseUrl = "http://localhost:" + port + "/v1";
        model = scheduler.engine().modelInfo().id();
    }

    private ChatRequest chatRequest(String text, int maxTokens) {
        return ChatRequest.builder().messages(UserMessage.from(text)).maxOutputTokens(maxTokens).temperature(0.0)
                .build();
    }

    @Test
    void chatModelGetsTextAndUsage() {
        OpenAiChatModel chat = OpenAiChatModel.builder().baseUrl(baseUrl).apiKey("test-key").modelName(model)
                .timeout(Duration.ofSeconds(60)).maxRetries(0).build();

        ChatResponse response = chat.chat(chatRequest("Tell me a story about a cat.", 16));

        assertThat(response.aiMessage().text()).isNotBlank();
        assertThat(response.tokenUsage().inputTokenCount()).isPositive();
        assertThat(response.tokenUsage().outputTokenCount()).isBetween(1, 16);
        assertThat(response.tokenUsage().totalTokenCount()).isEqualTo(
                response.tokenUsage().inputTokenCount() + response.tokenUsage().outputTokenCount());
    }

    /** docs/clients.md's LangChain4j example: its token usage has no kv_cache, the raw response keeps it. */
    @Test
    void kvCompressionGoesInAsACustomParameterAndKvCacheIsReadFromTheRawResponse() {
        OpenAiChatModel chat = OpenAiChatModel.builder().baseUrl(baseUrl).apiKey("test-key").modelName(model)
                .timeout(Duration.ofSeconds(60)).maxRetries(0).build();
        ChatRequest request = ChatRequest.builder().messages(UserMessage.from("Tell me a story about a cat."))
                .parameters(OpenAiChatRequestParameters.builder().maxOutputTokens(8).temperature(0.0)
                        .customParameters(Map.of("kv_compression", Map.of("method", "keydiff", "ratio", 0.5,
                                "bits", 8)))
                        .build())
                .build();

        ChatResponse response = chat.chat(request);

        OpenAiChatResponseMetadata metadata = (OpenAiChatResponseMetadata) response.metadata();
        assertThat(metadata.systemFingerprint()).matches("fp_[0-9a-f]{12}");
        JsonNode kvCache = JsonMapper.builder().build().readTree(metadata.rawHttpResponse().body()).get("usage")
                .get("kv_cache");
        assertThat(kvCache.get("method").stringValue()).isEqualTo("keydiff");
        assertThat(kvCache.get("bits").intValue()).isEqualTo(8);
        assertThat(kvCache.get("decided_by").stringValue()).isEqualTo("request");
        assertThat(kvCache.get("bytes").longValue()).isPositive()
                .isLessThan(kvCache.get("bytes_uncompressed").longValue());
    }

    @Test
    void chatModelReportsLengthWhenMaxTokensIsReached() {
        OpenAiChatModel chat = OpenAiChatModel.builder().baseUrl(baseUrl).apiKey("test-key").modelName(model)
                .timeout(Duration.ofSeconds(60)).maxRetries(0).build();

        ChatResponse response = chat.chat(chatRequest("Write a long poem about the sea.", 3));

        assertThat(response.finishReason()).isEqualTo(FinishReason.LENGTH);
        assertThat(response.tokenUsage().outputTokenCount()).isEqualTo(3);
    }

    @Test
    void streamingChatModelGetsTheSameTextInPiecesAndUsage() throws Exception {
        OpenAiStreamingChatModel chat = OpenAiStreamingChatModel.builder().baseUrl(baseUrl).apiKey("test-key")
                .modelName(model).timeout(Duration.ofSeconds(60)).build();
        StringBuilder pieces = new StringBuilder();
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();

        chat.chat(chatRequest("Tell me a story about a cat.", 16), new StreamingChatResponseHandler() {
            @Override
            public void onPartialResponse(String partial) {
                pieces.append(partial);
            }

            @Override
            public void onCompleteResponse(ChatResponse response) {
                done.complete(response);
            }

            @Override
            public void onError(Throwable error) {
                done.completeExceptionally(error);
            }
        });
        ChatResponse response = done.get(60, TimeUnit.SECONDS);

        assertThat(pieces.toString()).isNotBlank().isEqualTo(response.aiMessage().text());
        assertThat(response.tokenUsage().outputTokenCount()).isBetween(1, 16);
    }

    @Test
    void languageModelCompletesAPromptWithUsage() {
        OpenAiLanguageModel completions = OpenAiLanguageModel.builder().baseUrl(baseUrl).apiKey("test-key")
                .modelName(model).temperature(0.0).timeout(Duration.ofSeconds(60)).maxRetries(0).build();

        Response<String> response = completions.generate("Once upon a time");

        assertThat(response.content()).isNotBlank();
        assertThat(response.tokenUsage().inputTokenCount()).isPositive();
        assertThat(response.tokenUsage().outputTokenCount()).isBetween(1, 24);
    }

    @Test
    void streamingLanguageModelStreamsACompletion() throws Exception {
        OpenAiStreamingLanguageModel completions = OpenAiStreamingLanguageModel.builder().baseUrl(baseUrl)
                .apiKey("test-key").modelName(model).temperature(0.0).timeout(Duration.ofSeconds(60)).build();
        StringBuilder pieces = new StringBuilder();
        CompletableFuture<Response<String>> done = new CompletableFuture<>();

        completions.generate("Once upon a time", new StreamingResponseHandler<String>() {
            @Override
            public void onNext(String token) {
                pieces.append(token);
            }

            @Override
            public void onComplete(Response<String> response) {
                done.complete(response);
            }

            @Override
            public void onError(Throwable error) {
                done.completeExceptionally(error);
            }
        });
        Response<String> response = done.get(60, TimeUnit.SECONDS);

        assertThat(pieces.toString()).isNotBlank().isEqualTo(response.content());
    }
}
