package io.kvpilot.engine.batch;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvpilot.engine.EngineLoader;
import io.kvpilot.engine.EngineOptions;
import io.kvpilot.engine.EngineStepStats;
import io.kvpilot.engine.ForwardRoute;
import io.kvpilot.engine.SamplingParams;
import io.kvpilot.engine.Sequence;
import io.kvpilot.engine.model.RandomCheckpoint;
import io.kvpilot.engine.vector.PackedMatmul;
import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.kvcache.press.KvMethods;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the engine reports of each step: tokens, sequences, the cache entries attention read, and which forward path
 * ran and why; and the ratio compression really applied when a cache is freed.
 */
class EngineStepStatsTest {

    @TempDir
    static Path dir;

    static final EngineOptions OPTIONS = EngineOptions.defaults().withCompressors(KvMethods.defaults()::create);
    static final SamplingParams GREEDY = new SamplingParams(0, 1, 0, 0L, 24, List.of(), true);
    static final SamplingParams ONE_TOKEN = new SamplingParams(0, 1, 0, 0L, 1, List.of(), true);

    @BeforeAll
    static void write() throws Exception {
        RandomCheckpoint.write(dir.resolve("m"), RandomCheckpoint.Spec.llama(64, 2, 4, 2, 128, 97), 31);
    }

    static int[] prompt(int n, long seed) {
        return new Random(seed).ints(n, 3, 97).toArray();
    }

    @Test
    void densePrefillAndDecodeRunInJavaAndCountWhatAttentionRead() {
        assertThat(PackedMatmul.available()).as("the Vector API module (surefire adds it) on an AVX2 CPU").isTrue();
        try (LlamaEngine engine = EngineLoader.load(dir.resolve("m"), OPTIONS)) {
            Sequence a = engine.newSequence("a", prompt(9, 1), GREEDY, KvCompressionSpec.NONE);
            Sequence b = engine.newSequence("b", prompt(7, 2), GREEDY, KvCompressionSpec.NONE);

            engine.step(List.of(a, b), List.of());
            EngineStepStats prefill = engine.lastStepStats();
            assertThat(prefill.route()).isEqualTo(ForwardRoute.JAVA);
            assertThat(prefill.passes()).isEqualTo(1);
            assertThat(prefill.tokens()).isEqualTo(16);
            assertThat(prefill.sequences()).isEqualTo(2);
            // causal: token t of a fresh prompt reads t + 1 entries
            assertThat(prefill.kvEntriesRead()).isEqualTo(9 * 10 / 2 + 7 * 8 / 2);

            engine.step(List.of(), List.of(a, b));
            EngineStepStats decode = engine.lastStepStats();
            assertThat(decode.route()).isEqualTo(ForwardRoute.JAVA);
            assertThat(decode.tokens()).isEqualTo(2);
            assertThat(decode.sequences()).isEqualTo(2);
            assertThat(decode.kvEntriesRead()).as("each reads its prompt and its new token").isEqualTo(10 + 8);
            assertThat(decode.route().path()).isEqualTo("java");
            assertThat(decode.route().reason()).isEqualTo("dense");
        }
    }

    @Test
    void quantizedHeadRaggedAndLowRankCachesDecodeOnTheJavaPass() {
        try (LlamaEngine engine = EngineLoader.load(dir.resolve("m"), OPTIONS)) {
            Sequence a = engine.newSequence("a", prompt(12, 3), GREEDY, new KvCompressionSpec("none", 0.0, 8));
            engine.step(List.of(a), List.of());
            engine.step(List.of(), List.of(a));

            EngineStepStats decode = engine.lastStepStats();
            assertThat(decode.route()).as("int8 read in place").isEqualTo(ForwardRoute.JAVA);
            assertThat(decode.javaPasses()).isEqualTo(1);

            Sequence b = engine.newSequence("b", prompt(40, 5), GREEDY, new KvCompressionSpec("adakv_knorm", 0.5, 8));
            Sequence c = engine.newSequence("c", prompt(40, 6), GREEDY, new KvCompressionSpec("lowrank_keys", 0.5, 16));
            engine.step(List.of(b, c), List.of());
            engine.step(List.of(), List.of(a, b, c));
            decode = engine.lastStepStats();
            assertThat(decode.route()).as("head-ragged int8 and low-rank stores read in place too")
                    .isEqualTo(ForwardRoute.JAVA);
            assertThat(decode.route().path()).isEqualTo("java");
            assertThat(decode.javaPasses()).isEqualTo(1);
        }
    }

    @Test
    void longPromptsRunOnLibtorchAsLongPromptOrLongContext() {
        try (LlamaEngine engine = EngineLoader.load(dir.resolve("m"), OPTIONS.withPrefillChunkTokens(512))) {
            Sequence shortContext = engine.newSequence("s", prompt(100, 4), GREEDY, KvCompressionSpec.NONE);
            engine.prefill(List.of(shortContext));
            assertThat(engine.lastStepStats().route()).as("100 tokens reading 5,050 entries")
                    .isEqualTo(ForwardRoute.JAVA);

            Sequence longContext = engine.newSequence("c", prompt(200, 5), GREEDY, KvCompressionSpec.NONE);
            engine.prefill(List.of(longContext));
            assertThat(engine.lastStepStats().route()).as("200 tokens reading 20,100 entries")
                    .isEqualTo(ForwardRoute.LONG_CONTEXT);

            Sequence longPrompt = engine.newSequence("p", prompt(300, 6), GREEDY, KvCompressionSpec.NONE);
            engine.prefill(List.of(longPrompt));
            assertThat(engine.lastStepStats().route()).isEqualTo(ForwardRoute.LONG_PROMPT);
            assertThat(engine.lastStepStats().route().reason()).isEqualTo("long_prompt");
        }
    }

    @Test
    void disabledJavaForwardPassIsTheReasonForLibtorch() {
        try (LlamaEngine engine = EngineLoader.load(dir.resolve("m"), OPTIONS.withJavaForwardPass(false))) {
            Sequence a = engine.newSequence("a", prompt(5, 7), GREEDY, KvCompressionSpec.NONE);
            engine.step(List.of(a), List.of());

            assertThat(engine.lastStepStats().route()).isEqualTo(ForwardRoute.VECTOR_DISABLED);
            assertThat(engine.lastStepStats().route().reason()).isEqualTo("vector_disabled");
        }
    }

    @Test
    void appliedRatioIsWhatEvictionRemovedNotWhatWasAsked() {
        try (LlamaEngine engine = EngineLoader.load(dir.resolve("m"), OPTIONS)) {
            Sequence knorm = engine.newSequence("k", prompt(20, 8), ONE_TOKEN, new KvCompressionSpec("knorm", 0.5, 16));
            Sequence snapkv = engine.newSequence("s", prompt(20, 8), ONE_TOKEN,
                    new KvCompressionSpec("snapkv", 0.5, 16));
            assertThat(knorm.kvRatioApplied()).as("no cache freed yet").isNaN();

            engine.prefill(List.of(knorm, snapkv));

            assertThat(knorm.isFinished()).isTrue();
            assertThat(knorm.kvRatioApplied()).as("10 of 20 prompt entries kept").isEqualTo(0.5);
            // the budget is exact: a prompt shorter than SnapKV's 32-entry window keeps 10 of its 20 window entries
            assertThat(snapkv.kvRatioApplied()).as("10 of 20 kept within the window").isEqualTo(0.5);
        }
    }
}
