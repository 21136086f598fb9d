package io.kvpilot.engine.batch;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.kvpilot.engine.EngineLoader;
import io.kvpilot.engine.EngineOptions;
import io.kvpilot.engine.SamplingParams;
import io.kvpilot.engine.Sequence;
import io.kvpilot.engine.model.RandomCheckpoint;
import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.kvcache.KvCompressor;
import io.kvpilot.kvcache.KvCompressors;
import io.kvpilot.kvcache.PrefillObservation;
import io.kvpilot.kvcache.SequenceKvCache;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the Java pass gives a compression method to observe — the trailing prompt queries' attention, {@code [H, W, n]}
 * per layer — against the libtorch path's, on a GQA model, for a prompt alone and for prompts packed with others.
 */
class VectorForwardPassTest {

    @TempDir
    Path dir;

    /** Keeps every layer's observed attention of the last prompt it saw. */
    static final class Observer implements KvCompressor {
        final int window;
        float[][] attention;
        long[][] shapes;

        Observer(int window) {
            this.window = window;
        }

        @Override
        public int observationWindow() {
            return window;
        }

        @Override
        public void afterPrefill(SequenceKvCache cache, PrefillObservation obs) {
            attention = new float[cache.layerCount()][];
            shapes = new long[cache.layerCount()][];
            for (int l = 0; l < attention.length; l++) {
                attention[l] = obs.attention(l).toFloatArray();
                shapes[l] = obs.attention(l).getShape().getShape();
            }
        }
    }

    @Test
    void observedAttentionMatchesTheLibtorchPath() throws Exception {
        RandomCheckpoint.write(dir.resolve("m"), RandomCheckpoint.Spec.llama(64, 2, 4, 2, 128, 97), 21);
        Random random = new Random(4);
        int[] prompt = random.ints(13, 3, 97).toArray(); // 13 tokens: a 4-row block and a tail; window 5 of them
        int[] other = random.ints(9, 3, 97).toArray();
        float[][][] seen = new float[2][][];
        for (int variant = 0; variant < 2; variant++) {
            Observer observer = new Observer(5);
            EngineOptions options = EngineOptions.defaults().withJavaForwardPass(variant == 1)
                    .withCompressors(spec -> spec.method().equals("observe") ? observer
                            : KvCompressors.NONE.forSpec(spec));
            try (LlamaEngine engine = EngineLoader.load(dir.resolve("m"), options)) {
                Sequence watched = engine.newSequence("w", prompt, SamplingParams.greedy(2),
                        new KvCompressionSpec("observe", 0, 16));
                Sequence neighbour = engine.newSequence("n", other, SamplingParams.greedy(2), KvCompressionSpec.NONE);
                engine.prefill(List.of(neighbour, watched)); // packed behind another prompt: rows 9..21 of the pass
                assertThat(engine.vectorPasses()).isEqualTo(variant);
                for (long[] shape : observer.shapes) {
                    assertThat(shape).containsExactly(4, 5, 13);
                }
                seen[variant] = observer.attention;
                engine.release(watched);
                engine.release(neighbour);
            }
        }
        for (int l = 0; l < seen[0].length; l++) {
            for (int i = 0; i < seen[0][l].length; i++) {
                assertThat(seen[1][l][i]).as("layer %d, element %d", l, i)
                        .isCloseTo(seen[0][l][i], within(2e-6f));
            }
        }
    }
}
