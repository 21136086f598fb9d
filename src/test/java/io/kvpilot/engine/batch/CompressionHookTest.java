package io.kvpilot.engine.batch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import io.kvpilot.engine.EngineLoader;
import io.kvpilot.engine.EngineOptions;
import io.kvpilot.engine.SamplingParams;
import io.kvpilot.engine.Sequence;
import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.kvcache.KvCompressor;
import io.kvpilot.kvcache.PrefillObservation;
import io.kvpilot.kvcache.SequenceKvCache;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The engine side of the compression seam: what the hook sees after prefill, and that compaction frees bytes. */
class CompressionHookTest {

    static final Path MODEL = Path.of("src/test/resources/parity/llama-f32"); // 4 query heads, 2 KV heads

    /** Records the observation; keeps every other entry of each KV head (a stand-in for a real scorer). */
    static final class Recorder implements KvCompressor {
        final List<float[]> attention = new ArrayList<>();
        final List<long[]> shapes = new ArrayList<>();

        @Override
        public int observationWindow() {
            return 8;
        }

        @Override
        public void afterPrefill(SequenceKvCache cache, PrefillObservation observation) {
            for (int l = 0; l < cache.layerCount(); l++) {
                assertNotNull(observation.attention(l), "layer " + l);
                attention.add(observation.attention(l).toFloatArray());
                shapes.add(observation.attention(l).getShape().getShape());
                int n = cache.layer(l).length();
                int[][] keep = new int[cache.layout().kvHeads()][];
                for (int h = 0; h < keep.length; h++) {
                    keep[h] = java.util.stream.IntStream.range(0, n).filter(i -> i % 2 == 0).toArray();
                }
                cache.layer(l).retain(keep);
            }
        }
    }

    @Test
    void hookSeesTheLastWindowOfQueriesEvenAcrossChunksAndCompactionFreesBytes() {
        Recorder recorder = new Recorder();
        // 67 prompt tokens in chunks of 64: the last piece is stretched from 3 to the 8-query window (59 + 8)
        EngineOptions options = EngineOptions.defaults().withPrefillChunkTokens(64).withCompressors(spec -> recorder);
        try (LlamaEngine engine = EngineLoader.load(MODEL, options)) {
            int[] prompt = new int[67];
            for (int i = 0; i < prompt.length; i++) {
                prompt[i] = 3 + (7 * i) % 500;
            }
            Sequence seq = engine.newSequence("c", prompt, new SamplingParams(0, 1, 0, 0L, 4, List.of(), true),
                    new KvCompressionSpec("knorm", 0.5, 16));
            engine.prefill(List.of(seq));
            assertEquals(2, recorder.shapes.size());
            assertArrayEquals(new long[] {4, 8, 67}, recorder.shapes.get(0)); // [heads, window, prompt]
            float[] a = recorder.attention.get(0);
            for (int row = 0; row < 4 * 8; row++) {
                int position = 59 + row % 8; // window rows are prompt positions 59..66
                float sum = 0;
                for (int j = 0; j < 67; j++) {
                    float p = a[row * 67 + j];
                    sum += p;
                    if (j > position) {
                        assertEquals(0f, p, "causal: row at " + position + " sees key " + j);
                    }
                }
                assertEquals(1f, sum, 1e-5f);
            }
            // 34 of 67 entries kept per head: 64 token slots (2 blocks) per layer instead of 96, and the sequence says so
            assertEquals(34, engine.kvCache(seq).layer(0).length());
            assertEquals(64L * engine.modelInfo().kvBytesPerToken(), seq.kvBytes());
            assertEquals(67L * engine.modelInfo().kvBytesPerToken(), seq.kvBytesUncompressed());
            while (!seq.isFinished()) {
                engine.decode(List.of(seq)); // decoding continues on the compacted cache
            }
            assertEquals(4, seq.generatedCount());
            engine.release(seq);
            assertEquals(0, engine.kvBytesInUse());
        }
    }
}
