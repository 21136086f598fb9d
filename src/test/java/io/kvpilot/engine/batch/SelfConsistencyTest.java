package io.kvpilot.engine.batch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kvpilot.engine.EngineLoader;
import io.kvpilot.engine.EngineOptions;
import io.kvpilot.engine.FinishReason;
import io.kvpilot.engine.SamplingParams;
import io.kvpilot.engine.Sequence;
import io.kvpilot.engine.model.RandomCheckpoint;
import io.kvpilot.kvcache.KvCompressionSpec;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Without Hugging Face references: one prompt computed three ways (whole-prompt prefill, prefill then token-by-token
 * decode, and decode batched with other sequences of different lengths) must give the same logits.
 */
class SelfConsistencyTest {

    @TempDir
    static Path dir;

    static LlamaEngine engine;

    @BeforeAll
    static void load() throws Exception {
        RandomCheckpoint.write(dir.resolve("tiny"),
                RandomCheckpoint.Spec.llama(64, 2, 4, 2, 128, 97).with("Qwen2ForCausalLM", true, "F32", 1, false), 7);
        engine = EngineLoader.load(dir.resolve("tiny"), EngineOptions.defaults().withPrefillChunkTokens(16));
    }

    @AfterAll
    static void close() {
        engine.close();
    }

    static int[] prompt(int length, long seed) {
        return new Random(seed).ints(length, 3, 93).toArray(); // 3 + nextInt(90) each, as before
    }

    Sequence seq(String id, int[] prompt, int maxTokens) {
        return engine.newSequence(id, prompt, new SamplingParams(0, 1, 0, 0L, maxTokens, List.of(), true),
                KvCompressionSpec.NONE);
    }

    static float maxDiff(float[] a, float[] b) {
        assertEquals(a.length, b.length);
        float m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }

    @Test
    void decodeStepsMatchFullPrefillLogits() {
        int steps = 35;
        Sequence a = seq("a", prompt(5, 1), steps + 1);
        engine.prefill(List.of(a));
        List<float[]> rows = new ArrayList<>();
        for (int i = 0; i < steps; i++) {
            rows.add(engine.decodeWithLogits(List.of(a)).get(0));
        }
        // the same tokens fed as one prompt (40 tokens, prefilled in pieces of 16, 16 and 8) give the same logits
        int[] all = new int[5 + steps];
        System.arraycopy(prompt(5, 1), 0, all, 0, 5);
        System.arraycopy(a.generatedIds(), 0, all, 5, steps);
        assertEquals(40, all.length);
        Sequence b = seq("b", all, 1);
        float[][] full = engine.prefillWithLogits(List.of(b)).get(0);
        assertEquals(40, full.length);
        for (int i = 0; i < steps; i++) {
            assertTrue(maxDiff(full[5 + i], rows.get(i)) < 1e-4, "row " + i + ": " + maxDiff(full[5 + i], rows.get(i)));
        }
        engine.release(a);
        engine.release(b);
        assertEquals(0, engine.kvBytesInUse());
    }

    @Test
    void batchedDecodeMatchesSolo() {
        int[][] prompts = {prompt(3, 2), prompt(21, 3), prompt(40, 4)};
        List<float[]> solo = new ArrayList<>();
        List<int[]> soloTokens = new ArrayList<>();
        for (int s = 0; s < 3; s++) {
            Sequence x = seq("s" + s, prompts[s], 9);
            engine.prefill(List.of(x));
            for (int i = 0; i < 8; i++) {
                solo.add(engine.decodeWithLogits(List.of(x)).get(0));
            }
            soloTokens.add(x.generatedIds());
            engine.release(x);
        }
        List<Sequence> batch = List.of(seq("b0", prompts[0], 9), seq("b1", prompts[1], 9), seq("b2", prompts[2], 9));
        engine.prefill(batch);
        for (int i = 0; i < 8; i++) {
            List<float[]> rows = engine.decodeWithLogits(batch);
            for (int s = 0; s < 3; s++) {
                float d = maxDiff(rows.get(s), solo.get(s * 8 + i));
                assertTrue(d < 1e-4, "seq " + s + " step " + i + ": " + d);
            }
        }
        for (int s = 0; s < 3; s++) {
            assertArrayEquals(soloTokens.get(s), batch.get(s).generatedIds());
            assertEquals(FinishReason.LENGTH, batch.get(s).finishReason());
            engine.release(batch.get(s));
        }
        assertEquals(0, engine.kvBytesInUse());
    }
}
