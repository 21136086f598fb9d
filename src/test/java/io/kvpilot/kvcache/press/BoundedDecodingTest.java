package io.kvpilot.kvcache.press;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.kvpilot.kvcache.KvBlockPool;
import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.kvcache.KvLayout;
import io.kvpilot.kvcache.SequenceKvCache;
import java.util.Random;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Bounded decoding: every evicting method brings each layer back to its budget over all positions seen, so a cache
 * that generated past its last compaction shrinks to exactly {@code floor((1 - ratio) × positions)} entries per head
 * (PyramidKV: its layer's share), and StreamingLLM keeps exactly its sinks and the newest entries.
 */
class BoundedDecodingTest {

    static final KvLayout LAYOUT = new KvLayout(3, 2, 64, 4);

    static Stream<String> evictingMethods() {
        return KvMethods.defaults().names().stream()
                .filter(n -> !n.equals("none") && !n.equals("lowrank_keys") && !n.startsWith("adakv_"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("evictingMethods")
    void eachLayerGoesBackToItsBudgetOverEveryPositionSeen(String name) {
        KvMethod method = KvMethods.defaults().create(new KvCompressionSpec(name, 0.5, 16));
        assertThat(method.decodeInterval()).isEqualTo(KvMethods.DEFAULT_DECODE_INTERVAL);
        try (NDManager m = NDManager.newBaseManager()) {
            SequenceKvCache cache = KvFixtures.filled(new KvBlockPool(Long.MAX_VALUE), m, LAYOUT, 60, 1);
            method.afterPrefill(cache, KvFixtures.observation(m, 3, 4, KvMethods.OBSERVATION_WINDOW, 60, 2));
            decode(cache, m, 40, 60);
            int[] before = IntStream.range(0, LAYOUT.layers()).map(l -> cache.layer(l).length()).toArray();

            method.duringDecode(cache);

            for (int l = 0; l < LAYOUT.layers(); l++) {
                int budget = method.press().budgets().keep(l, LAYOUT.layers(), 100, 0.5);
                assertThat(cache.layer(l).length()).as("layer %d", l).isEqualTo(Math.min(budget, before[l]));
            }
            assertThat(cache.layer(1).length()).as("the middle layer shrank").isLessThan(before[1]);
            cache.close();
        }
    }

    @Test
    void streamingLlmKeepsItsSinksAndTheNewestEntries() {
        KvMethod method = KvMethods.defaults().create(new KvCompressionSpec("streaming_llm", 0.5, 16));
        try (NDManager m = NDManager.newBaseManager()) {
            SequenceKvCache cache = new SequenceKvCache(new KvBlockPool(Long.MAX_VALUE), m, LAYOUT, 60);
            decode(cache, m, 60, 0); // a 60-token prompt, entry i's values all equal to i
            method.afterPrefill(cache, null);
            decode(cache, m, 32, 60);

            method.duringDecode(cache); // 92 positions: 46 kept, 4 sinks and the 42 newest

            int[] expected = IntStream.concat(IntStream.range(0, 4), IntStream.range(50, 92)).toArray();
            for (int l = 0; l < LAYOUT.layers(); l++) {
                NDArray values = cache.layer(l).values(m); // [K, n, D]
                float[] firstHead = values.get("0, :, 0").toFloatArray();
                assertThat(firstHead).containsExactly(IntStream.of(expected).mapToObj(i -> (float) i)
                        .toArray(Float[]::new));
            }
            cache.close();
        }
    }

    @Test
    void withoutAnIntervalTheCacheIsCompressedAfterPrefillOnly() {
        KvMethod method = KvMethods.defaults(0).create(new KvCompressionSpec("knorm", 0.5, 16));
        assertThat(method.decodeInterval()).isZero();
        KvMethod quantizedOnly = KvMethods.defaults().create(new KvCompressionSpec("none", 0.0, 4));
        assertThat(quantizedOnly.decodeInterval()).as("nothing to evict").isZero();
    }

    /** Appends {@code steps} entries to every layer, the values of entry {@code p} all equal to {@code p}. */
    private static void decode(SequenceKvCache cache, NDManager m, int steps, int from) {
        Random rnd = new Random(from);
        for (int s = 0; s < steps; s++) {
            try (NDManager scratch = m.newSubManager()) {
                for (int l = 0; l < LAYOUT.layers(); l++) {
                    NDArray keys = KvFixtures.random(scratch, rnd, LAYOUT.kvHeads(), 1, LAYOUT.headDim());
                    NDArray values = scratch.full(new Shape(LAYOUT.kvHeads(), 1, LAYOUT.headDim()), from + s);
                    cache.layer(l).append(keys, values);
                }
            }
            cache.advance(1);
        }
    }
}
