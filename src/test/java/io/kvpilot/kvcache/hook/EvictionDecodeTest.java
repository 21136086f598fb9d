package io.kvpilot.kvcache.hook;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.kvpilot.engine.EngineLoader;
import io.kvpilot.engine.EngineOptions;
import io.kvpilot.engine.batch.LlamaEngine;
import io.kvpilot.engine.model.RandomCheckpoint;
import io.kvpilot.engine.SamplingParams;
import io.kvpilot.engine.Sequence;
import io.kvpilot.kvcache.DenseKvLayerStore;
import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.kvcache.KvCompressor;
import io.kvpilot.kvcache.KvLayerStore;
import io.kvpilot.kvcache.PrefillObservation;
import io.kvpilot.kvcache.SequenceKvCache;
import io.kvpilot.kvcache.press.KeepPlan;
import io.kvpilot.kvcache.press.KvMethod;
import io.kvpilot.kvcache.press.KvMethods;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Decoding after real eviction (compacted stores, heads of different lengths, layers of different lengths) gives the
 * logits of a reference that keeps the full cache and hides the same entries with an additive −∞ mask. The compacted
 * cache is shorter than the sequence, so a RoPE position taken from the cache length instead of the sequence length
 * would make the two differ.
 */
class EvictionDecodeTest {

    @TempDir
    static Path dir;

    static Path checkpoint;

    @BeforeAll
    static void writeModel() throws Exception {
        checkpoint = RandomCheckpoint.write(dir.resolve("tiny"),
                RandomCheckpoint.Spec.llama(64, 3, 4, 2, 128, 101), 11);
    }

    /** Runs one sequence; {@code masked} swaps eviction for a full-cache mask of the same entries. */
    static List<float[]> run(String method, boolean masked, List<List<KeepPlan>> plans) {
        KvMethods registry = KvMethods.defaults();
        KvCompressor compressor = new KvCompressor() {
            @Override
            public int observationWindow() {
                return KvMethods.OBSERVATION_WINDOW;
            }

            @Override
            public boolean wantsAttentionSums() {
                return true; // for h2o
            }

            @Override
            public void afterPrefill(SequenceKvCache cache, PrefillObservation obs) {
                KvMethod m = registry.create(new KvCompressionSpec(method, 0.5, 16));
                List<KeepPlan> layerPlans = new ArrayList<>();
                for (int l = 0; l < cache.layerCount(); l++) {
                    KeepPlan plan;
                    try (NDManager scope = cache.manager().newSubManager()) {
                        plan = m.plan(m.view(cache, l, obs, scope));
                    }
                    layerPlans.add(plan);
                    if (!masked) {
                        cache.layer(l).retain(plan.kept());
                    } else {
                        KvLayerStore old = cache.layer(l);
                        DenseKvLayerStore full = new DenseKvLayerStore(cache.pool(), cache.manager(),
                                cache.layout().kvHeads(), cache.layout().headDim(), old.length());
                        try (NDManager scope = cache.manager().newSubManager()) {
                            full.append(old.keys(scope), old.values(scope));
                        }
                        cache.replaceLayer(l, new MaskedStore(full, plan));
                    }
                }
                plans.add(layerPlans);
                assertThat(cache.positions()).isEqualTo(obs.promptLength());
            }
        };
        try (LlamaEngine engine = EngineLoader.load(checkpoint,
                EngineOptions.defaults().withThreads(1).withCompressors(spec -> compressor))) {
            int[] prompt = new Random(5).ints(120, 3, 101).toArray();
            Sequence seq = engine.newSequence("s", prompt, new SamplingParams(0, 1, 0, 1L, 13, List.of(), true),
                    new KvCompressionSpec(method, 0.5, 16));
            engine.prefill(List.of(seq));
            if (!masked) {
                assertThat(engine.kvCache(seq).layer(0).length()).isLessThan(prompt.length);
            }
            List<float[]> logits = new ArrayList<>();
            for (int i = 0; i < 12; i++) {
                logits.add(engine.decodeWithLogits(List.of(seq)).get(0));
            }
            engine.release(seq);
            assertThat(engine.kvPool().bytesInUse()).isZero();
            return logits;
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"snapkv", "adakv_snapkv", "pyramidkv", "streaming_llm", "knorm", "keydiff", "chunkkv_keydiff",
        "h2o", "tova"})
    void decodingAfterEvictionMatchesTheMaskedFullCache(String method) {
        List<List<KeepPlan>> plans = new ArrayList<>();
        List<float[]> evicted = run(method, false, plans);
        List<float[]> reference = run(method, true, plans);
        for (int l = 0; l < plans.get(0).size(); l++) {
            assertThat(plans.get(0).get(l).kept()).isDeepEqualTo(plans.get(1).get(l).kept());
        }
        float maxDiff = 0;
        for (int step = 0; step < evicted.size(); step++) {
            for (int v = 0; v < evicted.get(step).length; v++) {
                maxDiff = Math.max(maxDiff, Math.abs(evicted.get(step)[v] - reference.get(step)[v]));
            }
        }
        assertThat(maxDiff).as("max |Δlogit| over 12 decode steps").isLessThan(1e-4f);
    }

    /** The full cache with the evicted entries hidden by −∞; entries appended later are visible. */
    static final class MaskedStore implements KvLayerStore {
        private final DenseKvLayerStore full;
        private final float[] hidden; // [K * T0]
        private final int heads;
        private final int t0;

        MaskedStore(DenseKvLayerStore full, KeepPlan plan) {
            this.full = full;
            this.heads = plan.kept().length;
            this.t0 = plan.tokens();
            this.hidden = new float[heads * t0];
            java.util.Arrays.fill(hidden, Float.NEGATIVE_INFINITY);
            for (int h = 0; h < heads; h++) {
                for (int i : plan.kept()[h]) {
                    hidden[h * t0 + i] = 0;
                }
            }
        }

        @Override
        public NDArray attentionMask(NDManager step) {
            int n = full.length();
            float[] m = new float[heads * n];
            for (int h = 0; h < heads; h++) {
                System.arraycopy(hidden, h * t0, m, h * n, t0);
            }
            return step.create(m, new ai.djl.ndarray.types.Shape(heads, 1, n));
        }

        @Override public int length() { return full.length(); }
        @Override public void append(NDArray k, NDArray v) { full.append(k, v); }
        @Override public NDArray keys(NDManager step) { return full.keys(step); }
        @Override public NDArray values(NDManager step) { return full.values(step); }
        @Override public void retain(int[][] keep) { throw new UnsupportedOperationException(); }
        @Override public long bytes() { return full.bytes(); }
        @Override public void close() { full.close(); }
    }
}
