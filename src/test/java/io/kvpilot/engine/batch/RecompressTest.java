package io.kvpilot.engine.batch;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.kvpilot.engine.EngineLoader;
import io.kvpilot.engine.EngineOptions;
import io.kvpilot.engine.FinishReason;
import io.kvpilot.engine.SamplingParams;
import io.kvpilot.engine.Sequence;
import io.kvpilot.engine.model.RandomCheckpoint;
import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.kvcache.press.KvMethods;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A running sequence compressed further under pressure frees bytes and goes on generating: exactly the tokens a
 * sequence gets whose prompt was everything it had fed, compressed the same way after its prefill.
 */
class RecompressTest {

    @TempDir
    static Path dir;

    static final EngineOptions OPTIONS = EngineOptions.defaults().withCompressors(KvMethods.defaults()::create);
    static final int MAX_TOKENS = 40;

    @BeforeAll
    static void write() throws Exception {
        RandomCheckpoint.write(dir.resolve("m"), RandomCheckpoint.Spec.llama(64, 2, 4, 2, 128, 97), 31);
    }

    static SamplingParams greedy(int maxTokens) {
        return new SamplingParams(0, 1, 0, 0L, maxTokens, List.of(), true);
    }

    static int[] prompt(int n, long seed) {
        return new Random(seed).ints(n, 3, 97).toArray();
    }

    @Test
    void aRecompressedSequenceFreesBytesAndContinuesAsIfAdmittedCompressed() {
        int[] prompt = prompt(70, 1);
        KvCompressionSpec target = new KvCompressionSpec("streaming_llm", 0.5, 16);
        int before = 12; // tokens generated before the recompression
        int[] generated;
        try (LlamaEngine engine = EngineLoader.load(dir.resolve("m"), OPTIONS)) {
            Sequence other = engine.newSequence("other", prompt(20, 2), greedy(MAX_TOKENS), KvCompressionSpec.NONE);
            Sequence s = engine.newSequence("s", prompt, greedy(MAX_TOKENS), KvCompressionSpec.NONE);
            engine.step(List.of(s, other), List.of());
            while (s.generatedCount() < before) {
                engine.step(List.of(), List.of(s, other));
            }
            long held = engine.kvCache(s).bytes();
            long pool = engine.kvBytesInUse();
            long freed = engine.recompress(s, target);
            assertThat(freed).isPositive();
            assertThat(engine.kvCache(s).bytes()).isEqualTo(held - freed).isLessThan(held * 3 / 4);
            assertThat(engine.kvBytesInUse()).isEqualTo(pool - freed);
            assertThat(s.kvBytes()).isEqualTo(held - freed);
            assertThat(engine.recompress(s, target)).as("the same target again frees nothing").isZero();
            while (!s.isFinished() || !other.isFinished()) {
                engine.step(List.of(), List.of(s, other));
            }
            assertThat(s.finishReason()).isEqualTo(FinishReason.LENGTH);
            assertThat(s.generatedCount()).isEqualTo(MAX_TOKENS);
            generated = s.generatedIds();
            engine.release(s);
            engine.release(other);
            assertThat(engine.kvBytesInUse()).isZero();
        }
        // the reference: the 70 + 11 tokens fed before the recompression as a prompt, compressed after its prefill
        int[] fed = Arrays.copyOf(prompt, prompt.length + before - 1);
        System.arraycopy(generated, 0, fed, prompt.length, before - 1);
        try (LlamaEngine engine = EngineLoader.load(dir.resolve("m"), OPTIONS)) {
            Sequence ref = engine.newSequence("ref", fed, greedy(MAX_TOKENS - before + 1), target);
            engine.prefill(List.of(ref));
            while (!ref.isFinished()) {
                engine.decode(List.of(ref));
            }
            engine.release(ref);
            assertThat(ref.generatedIds())
                    .isEqualTo(Arrays.copyOfRange(generated, before - 1, MAX_TOKENS));
        }
    }

    @Test
    void aQuantizedRecompressionKeepsGeneratingToItsEnd() {
        try (LlamaEngine engine = EngineLoader.load(dir.resolve("m"), OPTIONS)) {
            Sequence s = engine.newSequence("s", prompt(50, 3), greedy(30), KvCompressionSpec.NONE);
            engine.step(List.of(s), List.of());
            for (int i = 0; i < 5; i++) {
                engine.step(List.of(), List.of(s));
            }
            long held = engine.kvCache(s).bytes();
            long freed = engine.recompress(s, new KvCompressionSpec("keydiff", 0.5, 8));
            assertThat(freed).isGreaterThan(held / 2);
            // fewer bits are applied, more bits never: 16 after 8 leaves the int8 store as it is
            assertThat(engine.recompress(s, new KvCompressionSpec("keydiff", 0.5, 16))).isZero();
            while (!s.isFinished()) {
                engine.step(List.of(), List.of(s));
            }
            assertThat(s.finishReason()).isEqualTo(FinishReason.LENGTH);
            assertThat(Arrays.stream(s.generatedIds()).boxed().toList()).hasSize(30).allMatch(t -> t >= 0 && t < 97);
            engine.release(s);
            assertThat(engine.kvBytesInUse()).isZero();
        }
    }

    @Test
    void aMethodThatNeedsThePromptsAttentionIsRefused() {
        try (LlamaEngine engine = EngineLoader.load(dir.resolve("m"), OPTIONS)) {
            Sequence s = engine.newSequence("s", prompt(20, 4), greedy(10), KvCompressionSpec.NONE);
            engine.step(List.of(s), List.of());
            long held = engine.kvCache(s).bytes();
            assertThatThrownBy(() -> engine.recompress(s, new KvCompressionSpec("snapkv", 0.5, 16)))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("query-agnostic");
            assertThat(engine.kvCache(s).bytes()).isEqualTo(held);
            engine.release(s);
        }
    }
}
