package io.kvpilot.api;

import io.kvpilot.api.OpenAiPayloads.ChatChunk;
import io.kvpilot.api.OpenAiPayloads.ChatCompletion;
import io.kvpilot.api.OpenAiPayloads.ChunkChoice;
import io.kvpilot.api.OpenAiPayloads.Delta;
import io.kvpilot.api.OpenAiPayloads.TextChoice;
import io.kvpilot.api.OpenAiPayloads.TextCompletion;
import io.kvpilot.api.OpenAiPayloads.UsageBody;
import io.kvpilot.serving.Usage;
import java.util.ArrayList;
import java.util.List;

/** How one endpoint shapes its answers: text completions or chat completions, whole or as stream chunks. */
interface StreamFormat {

    /** What every answer of one request repeats: its id, creation time, model and the service's fingerprint. */
    record Header(String id, long created, String model, String systemFingerprint) {}

    /** One finished choice of a whole answer: its text and finish reason. */
    record Finished(String text, String finishReason) {}

    /** Chunks sent before any text (chat's role announcement). */
    List<Object> opening(Header h);

    Object chunk(Header h, int index, String text, String finishReason);

    Object usageChunk(Header h, Usage usage);

    /** The whole answer; choice {@code i} is {@code choices.get(i)}. */
    Object whole(Header h, List<Finished> choices, Usage usage);

    StreamFormat TEXT = new StreamFormat() {
        @Override
        public List<Object> opening(Header h) {
            return List.of();
        }

        @Override
        public Object chunk(Header h, int index, String text, String finishReason) {
            return new TextCompletion(h.id(), "text_completion", h.created(), h.model(), h.systemFingerprint(),
                    List.of(new TextChoice(index, text, null, finishReason)), null);
        }

        @Override
        public Object usageChunk(Header h, Usage usage) {
            return new TextCompletion(h.id(), "text_completion", h.created(), h.model(), h.systemFingerprint(),
                    List.of(), UsageBody.of(usage));
        }

        @Override
        public Object whole(Header h, List<Finished> choices, Usage usage) {
            List<TextChoice> out = new ArrayList<>(choices.size());
            for (int i = 0; i < choices.size(); i++) {
                out.add(new TextChoice(i, choices.get(i).text(), null, choices.get(i).finishReason()));
            }
            return new TextCompletion(h.id(), "text_completion", h.created(), h.model(), h.systemFingerprint(), out,
                    UsageBody.of(usage));
        }
    };

    StreamFormat CHAT = new StreamFormat() {
        @Override
        public List<Object> opening(Header h) {
            return List.of(new ChatChunk(h.id(), "chat.completion.chunk", h.created(), h.model(),
                    h.systemFingerprint(), List.of(new ChunkChoice(0, new Delta("assistant", ""), null, null)), null));
        }

        @Override
        public Object chunk(Header h, int index, String text, String finishReason) {
            Delta delta = new Delta(null, text.isEmpty() && finishReason != null ? null : text);
            return new ChatChunk(h.id(), "chat.completion.chunk", h.created(), h.model(), h.systemFingerprint(),
                    List.of(new ChunkChoice(index, delta, null, finishReason)), null);
        }

        @Override
        public Object usageChunk(Header h, Usage usage) {
            return new ChatChunk(h.id(), "chat.completion.chunk", h.created(), h.model(), h.systemFingerprint(),
                    List.of(), UsageBody.of(usage));
        }

        @Override
        public Object whole(Header h, List<Finished> choices, Usage usage) {
            List<OpenAiPayloads.ChatChoice> out = new ArrayList<>(choices.size());
            for (int i = 0; i < choices.size(); i++) {
                out.add(new OpenAiPayloads.ChatChoice(i, new OpenAiPayloads.Message("assistant",
                        choices.get(i).text()), null, choices.get(i).finishReason()));
            }
            return new ChatCompletion(h.id(), "chat.completion", h.created(), h.model(), h.systemFingerprint(), out,
                    UsageBody.of(usage));
        }
    };
}
