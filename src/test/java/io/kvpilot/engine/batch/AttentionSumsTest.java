package io.kvpilot.engine.batch;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import io.kvpilot.engine.EngineLoader;
import io.kvpilot.engine.EngineOptions;
import io.kvpilot.engine.SamplingParams;
import io.kvpilot.engine.Sequence;
import io.kvpilot.engine.model.RandomCheckpoint;
import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.kvcache.KvCompressor;
import io.kvpilot.kvcache.PrefillObservation;
import io.kvpilot.kvcache.SequenceKvCache;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The prompt's attention sums H2O scores by: every query's softmax row adds 1 in total, entry {@code i} is seen by
 * {@code T - i} queries, and a prompt prefilled in pieces sums to what one pass sums.
 */
class AttentionSumsTest {

    @TempDir
    static Path dir;

    static Path checkpoint;

    @BeforeAll
    static void writeModel() throws Exception {
        checkpoint = RandomCheckpoint.write(dir.resolve("tiny"), RandomCheckpoint.Spec.llama(64, 2, 4, 2, 128, 101), 3);
    }

    /** Per layer, the sums [H, T] the compression hook received, as floats. */
    static float[][] sums(int chunk, int[] prompt) {
        float[][][] seen = new float[1][][];
        KvCompressor capture = new KvCompressor() {
            @Override
            public boolean wantsAttentionSums() {
                return true;
            }

            @Override
            public void afterPrefill(SequenceKvCache cache, PrefillObservation obs) {
                seen[0] = new float[cache.layerCount()][];
                for (int l = 0; l < cache.layerCount(); l++) {
                    NDArray s = obs.attentionSums(l);
                    assertThat(s.getShape().get(1)).isEqualTo(prompt.length);
                    seen[0][l] = s.toFloatArray();
                }
            }
        };
        try (LlamaEngine engine = EngineLoader.load(checkpoint, EngineOptions.defaults().withThreads(1)
                .withPrefillChunkTokens(chunk).withCompressors(spec -> capture))) {
            Sequence seq = engine.newSequence("s", prompt, SamplingParams.greedy(2), new KvCompressionSpec("h2o", 0.5, 16));
            engine.prefill(List.of(seq));
            engine.release(seq);
            assertThat(engine.kvPool().bytesInUse()).isZero();
        }
        return seen[0];
    }

    @Test
    void everyQueryAddsOneAndPiecesSumToTheWholePass() {
        int[] prompt = new Random(9).ints(70, 3, 101).toArray();
        float[][] whole = sums(512, prompt);
        float[][] pieces = sums(16, prompt);
        int t = prompt.length, heads = whole[0].length / t;
        for (int l = 0; l < whole.length; l++) {
            for (int h = 0; h < heads; h++) {
                double total = 0;
                for (int i = 0; i < t; i++) {
                    float v = whole[l][h * t + i];
                    assertThat(v).isBetween(0f, (float) (t - i) + 1e-4f); // at most 1 from each query that sees it
                    assertThat(pieces[l][h * t + i]).isCloseTo(v, org.assertj.core.data.Offset.offset(1e-4f));
                    total += v;
                }
                assertThat(total).as("layer %d head %d", l, h).isCloseTo(t, org.assertj.core.data.Offset.offset(1e-3));
            }
        }
    }
}
