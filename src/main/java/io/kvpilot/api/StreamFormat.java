package io.kvpilot.api;

import io.kvpilot.api.OpenAiPayloads.ChatChunk;
import io.kvpilot.api.OpenAiPayloads.ChatCompletion;
import io.kvpilot.api.OpenAiPayloads.ChunkChoice;
import io.kvpilot.api.OpenAiPayloads.Delta;
import io.kvpilot.api.OpenAiPayloads.TextChoice;
import io.kvpilot.api.OpenAiPayloads.TextCompletion;
import io.kvpilot.api.OpenAiPayloads.UsageBody;
import io.kvpilot.serving.Usage;
import java.util.List;

/** How one endpoint shapes its answers: text completions or chat completions, whole or as stream chunks. */
interface StreamFormat {

    /** Chunks sent before any text (chat's role announcement). */
    List<Object> opening(String id, long created, String model);

    Object chunk(String id, long created, String model, String text, String finishReason);

    Object usageChunk(String id, long created, String model, Usage usage);

    Object whole(String id, long created, String model, String text, String finishReason, Usage usage);

    StreamFormat TEXT = new StreamFormat() {
        @Override
        public List<Object> opening(String id, long created, String model) {
            return List.of();
        }

        @Override
        public Object chunk(String id, long created, String model, String text, String finishReason) {
            return new TextCompletion(id, "text_completion", created, model,
                    List.of(new TextChoice(0, text, null, finishReason)), null);
        }

        @Override
        public Object usageChunk(String id, long created, String model, Usage usage) {
            return new TextCompletion(id, "text_completion", created, model, List.of(), UsageBody.of(usage));
        }

        @Override
        public Object whole(String id, long created, String model, String text, String finishReason, Usage usage) {
            return new TextCompletion(id, "text_completion", created, model,
                    List.of(new TextChoice(0, text, null, finishReason)), UsageBody.of(usage));
        }
    };

    StreamFormat CHAT = new StreamFormat() {
        @Override
        public List<Object> opening(String id, long created, String model) {
            return List.of(new ChatChunk(id, "chat.completion.chunk", created, model,
                    List.of(new ChunkChoice(0, new Delta("assistant", ""), null, null)), null));
        }

        @Override
        public Object chunk(String id, long created, String model, String text, String finishReason) {
            Delta delta = new Delta(null, text.isEmpty() && finishReason != null ? null : text);
            return new ChatChunk(id, "chat.completion.chunk", created, model,
                    List.of(new ChunkChoice(0, delta, null, finishReason)), null);
        }

        @Override
        public Object usageChunk(String id, long created, String model, Usage usage) {
            return new ChatChunk(id, "chat.completion.chunk", created, model, List.of(), UsageBody.of(usage));
        }

        @Override
        public Object whole(String id, long created, String model, String text, String finishReason, Usage usage) {
            return new ChatCompletion(id, "chat.completion", created, model, List.of(new OpenAiPayloads.ChatChoice(0,
                    new OpenAiPayloads.Message("assistant", text), null, finishReason)), UsageBody.of(usage));
        }
    };
}
