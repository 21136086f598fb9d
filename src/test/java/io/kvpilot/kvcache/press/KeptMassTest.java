package io.kvpilot.kvcache.press;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDManager;
import io.kvpilot.kvcache.KvBlockPool;
import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.kvcache.KvLayout;
import io.kvpilot.kvcache.PrefillObservation;
import io.kvpilot.kvcache.SequenceKvCache;
import java.util.stream.Stream;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Kept score mass: a fraction, falling with the ratio, read from the cache without changing it. */
class KeptMassTest {

    static final KvLayout LAYOUT = new KvLayout(3, 2, 32, 4);
    static final int TOKENS = 300;
    static final double[] RATIOS = {0.25, 0.5, 0.75, 0.9};
    @AutoClose
    static final NDManager m = NDManager.newBaseManager();

    static Stream<String> methods() {
        return Stream.of("keydiff", "snapkv", "streaming_llm", "knorm", "adakv_keydiff", "h2o", "pyramidkv");
    }

    @ParameterizedTest
    @MethodSource("methods")
    void fractionsFallWithTheRatioAndLeaveTheCacheAlone(String name) {
        KvBlockPool pool = new KvBlockPool(Long.MAX_VALUE);
        try (NDManager scope = m.newSubManager();
                SequenceKvCache cache = KvFixtures.filled(pool, scope, LAYOUT, TOKENS, 7)) {
            PrefillObservation obs = KvFixtures.observation(scope, LAYOUT.layers(), 4, KvMethods.OBSERVATION_WINDOW,
                    TOKENS, 11);
            long bytes = cache.bytes();
            float[] before = cache.layer(1).keys(scope).toFloatArray();
            KvMethod method = KvMethods.defaults().create(new KvCompressionSpec(name, 0.5, 16));
            double[] kept = KeptMass.of(method, cache, obs, RATIOS);
            assertThat(kept).hasSize(RATIOS.length);
            for (int i = 0; i < kept.length; i++) {
                assertThat(kept[i]).isBetween(0.0, 1.0);
                if (i > 0) {
                    assertThat(kept[i]).isLessThanOrEqualTo(kept[i - 1] + 1e-12);
                }
            }
            assertThat(kept[kept.length - 1]).isLessThan(kept[0]);
            assertThat(cache.bytes()).isEqualTo(bytes);
            assertThat(cache.layer(1).keys(scope).toFloatArray()).containsExactly(before);
        }
    }

    @Test
    void aHeadKeepsItsMinShiftedMassShare() {
        // scores 1, 2, 4 and an always-kept +Inf: mass above the minimum is 0, 1, 3; keeping index 2 keeps 3 of 4
        float[] scores = {1f, 2f, 4f, Float.POSITIVE_INFINITY};
        assertThat(KeptMass.headFraction(scores, new int[] {2, 3})).isCloseTo(0.75, within(1e-12));
        assertThat(KeptMass.headFraction(scores, new int[] {0, 3})).isZero();
        assertThat(KeptMass.headFraction(new float[] {5f, 5f, 5f}, new int[] {1})).isEqualTo(1.0);
    }

    @Test
    void streamingLlmKeepsTheLatePositionsMass() {
        // positions are its scores: keeping the latest half of 0..99 (sinks aside) keeps about 3/4 of the mass
        KvBlockPool pool = new KvBlockPool(Long.MAX_VALUE);
        try (NDManager scope = m.newSubManager();
                SequenceKvCache cache = KvFixtures.filled(pool, scope, new KvLayout(1, 1, 8, 4), 100, 3)) {
            KvMethod method = KvMethods.defaults().create(new KvCompressionSpec("streaming_llm", 0.5, 16));
            double kept = KeptMass.of(method, cache, PrefillObservation.none(100), new double[] {0.5})[0];
            assertThat(kept).isCloseTo(0.74, within(0.02));
        }
    }
}
