package io.kvpilot.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kvpilot.engine.EngineLoader;
import io.kvpilot.engine.EngineOptions;
import io.kvpilot.engine.SamplingParams;
import io.kvpilot.engine.Sequence;
import io.kvpilot.engine.batch.LlamaEngine;
import io.kvpilot.engine.model.RandomCheckpoint;
import io.kvpilot.kvcache.KvCompressionSpec;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Teacher forcing ({@link TeacherForcing}, through the engine's {@code TokenChooser}): the forced token is what is
 * appended and fed to the next step, and the returned log-probability is the log-softmax of the step's logits.
 */
class TeacherForcingTest {

    @TempDir
    static Path dir;

    static LlamaEngine engine;
    static TeacherForcing forcing;

    @BeforeAll
    static void load() throws Exception {
        RandomCheckpoint.write(dir.resolve("tiny"), RandomCheckpoint.Spec.llama(64, 2, 4, 2, 128, 97), 5);
        engine = EngineLoader.load(dir.resolve("tiny"), EngineOptions.defaults().withPrefillChunkTokens(16));
        forcing = new TeacherForcing(engine);
    }

    @AfterAll
    static void close() {
        engine.close();
    }

    Sequence seq(String id, int[] prompt) {
        return engine.newSequence(id, prompt, new SamplingParams(0, 1, 0, 0L, 64, List.of(), true),
                KvCompressionSpec.NONE);
    }

    static int[] prompt(int length, long seed) {
        return new Random(seed).ints(length, 3, 93).toArray(); // 3 + nextInt(90) each, as before
    }

    static double logSoftmax(float[] row, int token) {
        double max = Double.NEGATIVE_INFINITY;
        for (float x : row) {
            max = Math.max(max, x);
        }
        double sum = 0;
        for (float x : row) {
            sum += Math.exp(x - max);
        }
        return row[token] - max - Math.log(sum);
    }

    @Test
    void forcedTokensAreFedAndScored() {
        int[] prompt = prompt(21, 3);
        int[] forced = {5, 77, 12, 40, 9};
        // reference: the whole text prefilled at once, logits at every position
        int[] full = new int[prompt.length + forced.length];
        System.arraycopy(prompt, 0, full, 0, prompt.length);
        System.arraycopy(forced, 0, full, prompt.length, forced.length);
        Sequence ref = seq("ref", full);
        float[][] logits = engine.prefillWithLogits(List.of(ref)).get(0);
        engine.release(ref);

        Sequence s = seq("forced", prompt);
        double[] lp = forcing.prefill(List.of(s), new int[] {forced[0]});
        assertEquals(logSoftmax(logits[prompt.length - 1], forced[0]), lp[0], 1e-4);
        for (int i = 1; i < forced.length; i++) {
            lp = forcing.decode(List.of(s), new int[] {forced[i]});
            assertEquals(logSoftmax(logits[prompt.length + i - 1], forced[i]), lp[0], 1e-4, "step " + i);
        }
        assertEquals(forced.length, s.generatedCount());
        for (int i = 0; i < forced.length; i++) {
            assertEquals(forced[i], s.generatedIds()[i]);
        }
        assertTrue(lp[0] < 0);
        engine.release(s);
    }

    @Test
    void sequencesThatSitOutGetNaNAndBadTokensAreRefused() {
        Sequence a = seq("a", prompt(9, 1));
        Sequence b = seq("b", prompt(12, 2));
        forcing.prefill(List.of(a, b), new int[] {4, 6});
        engine.release(b);
        double[] lp = forcing.decode(List.of(a, b), new int[] {7, 8});
        assertTrue(lp[0] < 0);
        assertTrue(Double.isNaN(lp[1]));
        assertThrows(IllegalArgumentException.class, () -> forcing.decode(List.of(a), new int[] {97}));
        assertThrows(IllegalArgumentException.class, () -> forcing.decode(List.of(a), new int[] {1, 2}));
        engine.release(a);
    }
}
