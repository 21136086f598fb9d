package io.kvpilot.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import io.kvpilot.serving.Usage;
import java.util.List;
import tools.jackson.databind.PropertyNamingStrategies;
import tools.jackson.databind.annotation.JsonNaming;

/** The response bodies of the completion endpoints, in OpenAI's field names, plus {@code usage.kv_cache}. */
final class OpenAiPayloads {

    private OpenAiPayloads() {}

    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    record TextCompletion(String id, String object, long created, String model, String systemFingerprint,
            List<TextChoice> choices,
            UsageBody usage) {}

    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    record TextChoice(int index, String text, Object logprobs, String finishReason) {}

    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    record ChatCompletion(String id, String object, long created, String model, String systemFingerprint,
            List<ChatChoice> choices,
            UsageBody usage) {}

    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    record ChatChoice(int index, Message message, Object logprobs, String finishReason) {}

    record Message(String role, String content) {}

    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    record ChatChunk(String id, String object, long created, String model, String systemFingerprint,
            List<ChunkChoice> choices,
            UsageBody usage) {}

    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    record ChunkChoice(int index, Delta delta, Object logprobs, String finishReason) {}

    @JsonInclude(JsonInclude.Include.NON_NULL)
    record Delta(String role, String content) {}

    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    record UsageBody(int promptTokens, int completionTokens, int totalTokens, KvCache kvCache) {

        static UsageBody of(Usage u) {
            Usage.KvReport k = u.kvCache();
            return new UsageBody(u.promptTokens(), u.completionTokens(), u.totalTokens(), new KvCache(k.method(),
                    k.ratio(), k.bits(), k.bytes(), k.bytesUncompressed(), k.decidedBy(), k.predictedQuality()));
        }
    }

    /** {@code predicted_quality} appears only where the controller predicted one. */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    record KvCache(String method, double ratio, int bits, long bytes, long bytesUncompressed, String decidedBy,
            @JsonInclude(JsonInclude.Include.NON_NULL) Double predictedQuality) {}
}
