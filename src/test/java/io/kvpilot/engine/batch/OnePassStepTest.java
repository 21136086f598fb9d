package io.kvpilot.engine.batch;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvpilot.engine.EngineLoader;
import io.kvpilot.engine.EngineOptions;
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
 * A scheduler step that admits prompts while others decode runs as one forward pass, and every sequence gets the
 * tokens it gets alone; too many tokens for one pass fall back to prefill then decode, with the same result.
 */
class OnePassStepTest {

    @TempDir
    static Path dir;

    static final EngineOptions OPTIONS = EngineOptions.defaults().withCompressors(KvMethods.defaults()::create);
    static final SamplingParams PARAMS = new SamplingParams(0, 1, 0, 0L, 24, List.of(), true);

    @BeforeAll
    static void write() throws Exception {
        RandomCheckpoint.write(dir.resolve("m"), RandomCheckpoint.Spec.llama(64, 2, 4, 2, 128, 97), 31);
    }

    static int[] prompt(int n, long seed) {
        return new Random(seed).ints(n, 3, 97).toArray();
    }

    /** Greedy tokens of {@code prompt} run alone. */
    static int[] alone(int[] prompt, KvCompressionSpec spec) {
        try (LlamaEngine engine = EngineLoader.load(dir.resolve("m"), OPTIONS)) {
            Sequence s = engine.newSequence("alone", prompt, PARAMS, spec);
            engine.prefill(List.of(s));
            while (!s.isFinished()) {
                engine.decode(List.of(s));
            }
            engine.release(s);
            return s.generatedIds();
        }
    }

    @Test
    void admittedPromptsJoinTheDecodePassAndGetTheirSoloTokens() {
        int[] first = prompt(9, 1);
        int[] second = prompt(7, 2);
        int[] third = prompt(11, 3);
        KvCompressionSpec keydiff = new KvCompressionSpec("keydiff", 0.5, 16);
        try (LlamaEngine engine = EngineLoader.load(dir.resolve("m"), OPTIONS)) {
            Sequence a = engine.newSequence("a", first, PARAMS, KvCompressionSpec.NONE);
            engine.step(List.of(a), List.of());
            for (int i = 0; i < 3; i++) {
                engine.step(List.of(), List.of(a));
            }
            Sequence b = engine.newSequence("b", second, PARAMS, KvCompressionSpec.NONE);
            Sequence c = engine.newSequence("c", third, PARAMS, keydiff); // compressed right after its prefill
            long before = engine.vectorPasses();
            engine.step(List.of(b, c), List.of(a));
            assertThat(engine.vectorPasses() - before).as("one pass for both prompts and a's decode").isEqualTo(1);
            assertThat(b.generatedCount()).isEqualTo(1);
            assertThat(c.generatedCount()).isEqualTo(1);
            while (!a.isFinished() || !b.isFinished() || !c.isFinished()) {
                engine.step(List.of(), List.of(a, b, c));
            }
            assertThat(a.generatedIds()).isEqualTo(alone(first, KvCompressionSpec.NONE));
            assertThat(b.generatedIds()).isEqualTo(alone(second, KvCompressionSpec.NONE));
            assertThat(c.generatedIds()).isEqualTo(alone(third, keydiff));
            List.of(a, b, c).forEach(engine::release);
            assertThat(engine.kvBytesInUse()).isZero();
        }
    }

    @Test
    void aStepOverOnePassRunsAsPrefillThenDecode() {
        int[] longPrompt = prompt(200, 4); // over one pass, and too long for the Java pass: prefill on libtorch
        int[] first = prompt(5, 5);
        try (LlamaEngine engine = EngineLoader.load(dir.resolve("m"), OPTIONS)) {
            Sequence a = engine.newSequence("a", first, PARAMS, KvCompressionSpec.NONE);
            engine.step(List.of(a), List.of());
            Sequence b = engine.newSequence("b", longPrompt, PARAMS, KvCompressionSpec.NONE);
            long before = engine.vectorPasses();
            engine.step(List.of(b), List.of(a));
            assertThat(engine.vectorPasses() - before).as("the decode pass only (the prompt on libtorch)").isEqualTo(1);
            while (!a.isFinished() || !b.isFinished()) {
                engine.step(List.of(), List.of(a, b));
            }
            assertThat(a.generatedIds()).isEqualTo(alone(first, KvCompressionSpec.NONE));
            assertThat(Arrays.equals(b.generatedIds(), alone(longPrompt, KvCompressionSpec.NONE))).isTrue();
            List.of(a, b).forEach(engine::release);
        }
    }
}
