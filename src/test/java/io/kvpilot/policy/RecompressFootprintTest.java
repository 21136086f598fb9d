package io.kvpilot.policy;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvpilot.engine.EngineLoader;
import io.kvpilot.engine.EngineOptions;
import io.kvpilot.engine.SamplingParams;
import io.kvpilot.engine.Sequence;
import io.kvpilot.engine.batch.LlamaEngine;
import io.kvpilot.engine.model.RandomCheckpoint;
import io.kvpilot.kvcache.KvBlockPool;
import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.kvcache.SequenceKvCache;
import io.kvpilot.kvcache.press.KvMethods;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * What a reclaim lowers a running sequence's reservation to, and what it reserves for the conversion itself, bound
 * what the sequence's cache then holds: the pool's peak while {@link LlamaEngine#recompress} converts it is within
 * {@link LlamaEngine#recompressionPeakBytes}, and its peak from then to its last token is what
 * {@link KvCostModel#heldAfterRecompressionBytes} predicts — for dense and int8 caches recompressed by eviction, by
 * fewer bits and by both, early, mid-way and after a bounding of the cache during decoding.
 */
class RecompressFootprintTest {

    @TempDir
    static Path dir;

    static final EngineOptions OPTIONS = EngineOptions.defaults().withCompressors(KvMethods.defaults()::create);

    @BeforeAll
    static void write() throws Exception {
        RandomCheckpoint.write(dir.resolve("m"), RandomCheckpoint.Spec.llama(128, 2, 4, 2, 256, 97), 31);
    }

    @ParameterizedTest(name = "{0} recompressed to {1} after {2} tokens")
    @CsvSource({
            "none:0:16, none:0:8, 1", "none:0:16, none:0:8, 9", "none:0:16, none:0:4, 9",
            "none:0:16, keydiff:0.5:16, 9", "none:0:16, keydiff:0.5:8, 9", "none:0:16, keydiff:0.75:8, 40",
            "none:0:16, streaming_llm:0.5:16, 9", "none:0:16, knorm:0.5:4, 2", "none:0:16, keydiff:0.5:16, 33",
            "none:0:16, keydiff:0.5:16, 64", "none:0:16, none:0:8, 68",
            "none:0:8, keydiff:0.5:8, 9", "keydiff:0.25:16, keydiff:0.5:16, 9",
            "keydiff:0.25:8, keydiff:0.75:8, 40"})
    void theReservationsCoverTheConversionAndTheRestOfTheSequence(String from, String to, int after) {
        KvCompressionSpec source = spec(from);
        KvCompressionSpec target = spec(to);
        int promptTokens = 150;
        int maxTokens = 70;
        try (LlamaEngine engine = EngineLoader.load(dir.resolve("m"), OPTIONS)) {
            KvCostModel costs = new EngineKvCostModel(() -> engine);
            Sequence s = engine.newSequence("s", new Random(7).ints(promptTokens, 3, 97).toArray(),
                    new SamplingParams(0, 1, 0, 0L, maxTokens, List.of(), true), source);
            engine.step(List.of(s), List.of());
            while (s.generatedCount() < after) {
                engine.step(List.of(), List.of(s));
            }
            SequenceKvCache cache = engine.kvCache(s);
            long reservedForConversion = engine.recompressionPeakBytes(s, target);
            cache.pool().markPeak();
            assertThat(engine.recompress(s, target)).as("frees bytes").isPositive();
            assertThat(cache.pool().peakBytesSinceMark()).as("peak while converting")
                    .isLessThanOrEqualTo(reservedForConversion);

            long predicted = costs.heldAfterRecompressionBytes(target, promptTokens, after, maxTokens);
            cache.pool().markPeak();
            while (!s.isFinished()) {
                engine.step(List.of(), List.of(s));
            }
            assertThat(s.generatedCount()).isEqualTo(maxTokens);
            assertThat(cache.pool().peakBytesSinceMark()).as("peak from the recompression to the last token")
                    .isLessThanOrEqualTo(predicted)
                    .as("no more than a block of dense capacity per layer to spare")
                    .isGreaterThanOrEqualTo((predicted - KvBlockPool.BLOCK_TOKENS * engine.kvLayout().bytesPerToken())
                            * 9 / 10);
            engine.release(s);
            assertThat(engine.kvBytesInUse()).isZero();
        }
    }

    static KvCompressionSpec spec(String s) {
        String[] p = s.split(":");
        return new KvCompressionSpec(p[0], Double.parseDouble(p[1]), Integer.parseInt(p[2]));
    }
}
