package io.kvpilot.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.kvpilot.kvcache.KvBlockPool;
import io.kvpilot.kvcache.KvLayout;
import io.kvpilot.kvcache.PrefillObservation;
import io.kvpilot.kvcache.SequenceKvCache;
import io.kvpilot.kvcache.press.KvMethods;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Statistics after prefill: one falling kept-mass curve per measurable method, the predictor's ratios. */
class PrefillStatisticsProbeTest {

    static final KvLayout LAYOUT = new KvLayout(2, 2, 16, 4);
    static final int TOKENS = 200;
    static final List<String> METHODS = List.of("none", "keydiff", "snapkv", "streaming_llm", "unknown_method");

    @Test
    void measuresEachMethodAtEachRatio() {
        PrefillStatisticsProbe probe = new PrefillStatisticsProbe(KvMethods.defaults(), METHODS,
                new double[] {0.25, 0.5, 0.75, 0.9});
        assertThat(probe.observationWindow()).isEqualTo(KvMethods.OBSERVATION_WINDOW);
        try (NDManager m = NDManager.newBaseManager(); SequenceKvCache cache = filled(m)) {
            PrefillStatistics s = probe.compute(cache, observation(m));
            assertThat(s.promptTokens()).isEqualTo(TOKENS);
            assertThat(s.keptMass()).containsOnlyKeys("keydiff", "snapkv", "streaming_llm");
            for (double[] kept : s.keptMass().values()) {
                assertThat(kept).hasSize(4);
                for (int i = 1; i < kept.length; i++) {
                    assertThat(kept[i]).isBetween(0.0, 1.0).isLessThanOrEqualTo(kept[i - 1]);
                }
            }
        }
    }

    @Test
    void skipsAttentionScorersWhenThePrefillCapturedNoWindow() {
        PrefillStatisticsProbe probe = new PrefillStatisticsProbe(KvMethods.defaults(), METHODS, new double[] {0.5});
        try (NDManager m = NDManager.newBaseManager(); SequenceKvCache cache = filled(m)) {
            PrefillStatistics s = probe.compute(cache, PrefillObservation.none(TOKENS));
            assertThat(s.keptMass()).containsOnlyKeys("keydiff", "streaming_llm");
        }
    }

    @Test
    void rejectsRatiosOutsideTheOpenUnitIntervalOrOutOfOrder() {
        assertThatThrownBy(() -> new PrefillStatisticsProbe(KvMethods.defaults(), METHODS, new double[] {0.5, 0.25}))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new PrefillStatisticsProbe(KvMethods.defaults(), METHODS, new double[] {0.0}))
                .isInstanceOf(IllegalArgumentException.class);
    }

    static SequenceKvCache filled(NDManager m) {
        Random rnd = new Random(5);
        SequenceKvCache cache = new SequenceKvCache(new KvBlockPool(Long.MAX_VALUE), m, LAYOUT, TOKENS);
        for (int l = 0; l < LAYOUT.layers(); l++) {
            cache.layer(l).append(random(m, rnd, LAYOUT.kvHeads(), TOKENS, LAYOUT.headDim()),
                    random(m, rnd, LAYOUT.kvHeads(), TOKENS, LAYOUT.headDim()));
        }
        cache.advance(TOKENS);
        return cache;
    }

    /** Random causal softmax attention of the last window's queries (4 query heads: 2 per KV head). */
    static PrefillObservation observation(NDManager m) {
        int w = KvMethods.OBSERVATION_WINDOW;
        NDArray[] attn = new NDArray[LAYOUT.layers()];
        Random rnd = new Random(9);
        for (int l = 0; l < attn.length; l++) {
            float[] a = new float[4 * w * TOKENS];
            for (int h = 0; h < 4; h++) {
                for (int j = 0; j < w; j++) {
                    int visible = TOKENS - w + j + 1;
                    float sum = 0;
                    for (int t = 0; t < visible; t++) {
                        a[(h * w + j) * TOKENS + t] = (float) Math.exp(2 * rnd.nextGaussian());
                        sum += a[(h * w + j) * TOKENS + t];
                    }
                    for (int t = 0; t < visible; t++) {
                        a[(h * w + j) * TOKENS + t] /= sum;
                    }
                }
            }
            attn[l] = m.create(a, new Shape(4, w, TOKENS));
        }
        return new PrefillObservation(TOKENS, w, attn);
    }

    static NDArray random(NDManager m, Random rnd, long... shape) {
        float[] d = new float[(int) new Shape(shape).size()];
        for (int i = 0; i < d.length; i++) {
            d[i] = (float) rnd.nextGaussian();
        }
        return m.create(d, new Shape(shape));
    }
}
