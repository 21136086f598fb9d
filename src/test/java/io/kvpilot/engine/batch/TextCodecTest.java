package io.kvpilot.engine.batch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kvpilot.engine.ChatMessage;
import io.kvpilot.engine.EngineLoader;
import io.kvpilot.engine.EngineOptions;
import io.kvpilot.engine.FinishReason;
import io.kvpilot.engine.SamplingParams;
import io.kvpilot.engine.Sequence;
import io.kvpilot.engine.TextCodec;
import io.kvpilot.engine.model.RandomCheckpoint;
import io.kvpilot.kvcache.KvCompressionSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The default model's tokenizer.json on a random-weight checkpoint: encode/decode, no truncation at 512, the chat
 * template through the template interpreter, and text released while generating (streamed text equals decoding all ids).
 */
class TextCodecTest {

    static final Path TOKENIZER = Path.of("models/kvpilot-mini/tokenizer.json");

    @TempDir
    static Path dir;

    static LlamaEngine engine;

    @BeforeAll
    static void load() throws Exception {
        Path ckpt = RandomCheckpoint.write(dir.resolve("with-tokenizer"),
                RandomCheckpoint.Spec.llama(32, 1, 2, 1, 64, 8192).withContext(1024), 5);
        Files.copy(TOKENIZER, ckpt.resolve("tokenizer.json"));
        Files.writeString(ckpt.resolve("tokenizer_config.json"), """
                {"bos_token": "<s>", "eos_token": {"content": "</s>"},
                 "chat_template": "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('no system') }}{% endif %}<|{{ m['role'] }}|>\\n{{ m['content'].strip() }}\\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\\n{% endif %}"}
                """);
        engine = EngineLoader.load(ckpt, EngineOptions.defaults());
    }

    @AfterAll
    static void close() {
        engine.close();
    }

    @Test
    void encodeDecodeRoundTripsWithoutTruncation() {
        TextCodec codec = engine.textCodec();
        String text = "The quick brown fox jumps over the lazy dog; naïve café. ".repeat(60);
        int[] ids = codec.encode(text, false);
        assertTrue(ids.length > 600, "expected > 512 tokens, got " + ids.length);
        assertEquals(text.strip(), codec.decode(ids).strip());
        int[] withBos = codec.encode("hi", true);
        assertEquals(1, withBos[0], "BOS from the post-processor");
    }

    @Test
    void chatTemplateRendersWithJinja() {
        String prompt = engine.textCodec().applyChatTemplate(
                List.of(new ChatMessage("user", "  Hello there  "), new ChatMessage("assistant", "Hi")));
        assertEquals("<s><|user|>\nHello there\n<|assistant|>\nHi\n<|assistant|>\n", prompt);
    }

    @Test
    void chatTemplateRaiseExceptionFails() {
        Exception e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> engine.textCodec().applyChatTemplate(List.of(new ChatMessage("system", "x"))));
        assertTrue(e.getMessage().contains("no system"), e.getMessage());
    }

    @Test
    void streamedTextEqualsDecodedIdsAndStopStringsEndGeneration() {
        int[] prompt = engine.textCodec().encode("Once upon a time", true);
        Sequence seq = engine.newSequence("t", prompt, new SamplingParams(1.0, 1.0, 0, 3L, 40, List.of(), true),
                KvCompressionSpec.NONE);
        StringBuilder streamed = new StringBuilder();
        engine.prefill(List.of(seq));
        streamed.append(seq.takeText());
        while (!seq.isFinished()) {
            engine.decode(List.of(seq));
            streamed.append(seq.takeText());
        }
        assertEquals(FinishReason.LENGTH, seq.finishReason());
        String full = engine.textCodec().decode(seq.generatedIds());
        assertEquals(full, streamed.toString());
        engine.release(seq);

        // the same seed again, now stopping at a piece of that text: output ends right before it
        String stop = full.substring(full.length() / 2, full.length() / 2 + 3);
        Sequence again = engine.newSequence("u", prompt, new SamplingParams(1.0, 1.0, 0, 3L, 40, List.of(stop), true),
                KvCompressionSpec.NONE);
        List<String> pieces = new ArrayList<>();
        engine.prefill(List.of(again));
        pieces.add(again.takeText());
        while (!again.isFinished()) {
            engine.decode(List.of(again));
            pieces.add(again.takeText());
        }
        assertEquals(FinishReason.STOP, again.finishReason());
        String out = String.join("", pieces);
        assertEquals(full.substring(0, full.indexOf(stop)), out);
        assertFalse(out.contains(stop));
        engine.release(again);
        assertEquals(0, engine.kvBytesInUse());
    }
}
