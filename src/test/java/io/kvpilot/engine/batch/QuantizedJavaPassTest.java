package io.kvpilot.engine.batch;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.kvpilot.engine.EngineLoader;
import io.kvpilot.engine.EngineOptions;
import io.kvpilot.engine.ForwardRoute;
import io.kvpilot.engine.SamplingParams;
import io.kvpilot.engine.Sequence;
import io.kvpilot.engine.model.RandomCheckpoint;
import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.kvcache.press.KvMethods;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Decode over int8 and KIVI caches runs on the Java pass, reading the packed bytes in place, and gives what the
 * libtorch path gives: the same greedy tokens and logits within {@value #LOGIT_TOLERANCE} (the two paths compute K/V
 * in a different fp32 order, which can move a value across a rounding boundary of its code; a wrong scale, zero
 * point, group or nibble order moves logits by whole units). A batch mixing dense, int8 and KIVI sequences stays on
 * the Java pass and gives each sequence its tokens decoded alone. Head dimension 64 and three query heads per KV
 * head, as kvpilot-mini's, so KIVI's 32-wide groups apply and the kernels' three-head blocks are full.
 */
class QuantizedJavaPassTest {

    static final float LOGIT_TOLERANCE = 0.05f;
    static final int STEPS = 40; // past a few of KIVI's window flushes (one every G = 32 tokens)

    @TempDir
    static Path dir;

    static Path model;

    @BeforeAll
    static void write() throws Exception {
        model = RandomCheckpoint.write(dir.resolve("m"), RandomCheckpoint.Spec.llama(384, 2, 6, 2, 256, 300).withContext(512), 9);
    }

    static int[] prompt(int seed) {
        int[] ids = new int[240]; // keydiff 0.75 keeps 60 of them: KIVI's window flushes a group within the steps
        for (int i = 0; i < ids.length; i++) {
            ids[i] = 3 + (seed + 17 * i) % 290;
        }
        return ids;
    }

    static KvCompressionSpec spec(String cell) {
        String[] p = cell.split(":");
        return new KvCompressionSpec(p[0], Double.parseDouble(p[1]), Integer.parseInt(p[2]));
    }

    record Run(List<float[]> logits, List<Integer> tokens, List<ForwardRoute> routes) {}

    static Run decode(boolean vector, List<KvCompressionSpec> specs, int watched) {
        EngineOptions options = EngineOptions.defaults().withJavaForwardPass(vector).withCompressors(KvMethods.defaults());
        try (LlamaEngine engine = EngineLoader.load(model, options)) {
            List<Sequence> batch = new ArrayList<>();
            for (int i = 0; i < specs.size(); i++) {
                Sequence s = engine.newSequence("s" + i, prompt(i),
                        new SamplingParams(0, 1, 0, 0L, STEPS + 2, List.of(), true), specs.get(i));
                engine.prefill(List.of(s));
                batch.add(s);
            }
            Run run = new Run(new ArrayList<>(), new ArrayList<>(), new ArrayList<>());
            for (int step = 0; step < STEPS; step++) {
                float[] logits = engine.decodeWithLogits(batch).get(watched);
                run.logits().add(logits);
                run.tokens().add(argmax(logits));
                run.routes().add(engine.lastStepStats().route());
            }
            batch.forEach(engine::release);
            assertThat(engine.kvBytesInUse()).as("KV freed").isZero();
            return run;
        }
    }

    static int argmax(float[] x) {
        int best = 0;
        for (int i = 1; i < x.length; i++) {
            if (x[i] > x[best]) {
                best = i;
            }
        }
        return best;
    }

    @ParameterizedTest
    @ValueSource(strings = {"none:0:8", "none:0:4", "none:0:2", "keydiff:0.75:4", "snapkv:0.5:8"})
    void javaPassMatchesLibtorchOnTheSameFormat(String cell) {
        List<KvCompressionSpec> specs = List.of(spec(cell));
        Run java = decode(true, specs, 0);
        Run torch = decode(false, specs, 0);
        assertThat(java.routes()).as("every decode step on the Java pass").containsOnly(ForwardRoute.JAVA);
        assertThat(torch.routes()).containsOnly(ForwardRoute.VECTOR_DISABLED);
        assertThat(java.tokens()).as("greedy tokens").isEqualTo(torch.tokens());
        float worst = 0;
        for (int step = 0; step < STEPS; step++) {
            float[] a = java.logits().get(step);
            float[] b = torch.logits().get(step);
            for (int i = 0; i < a.length; i++) {
                assertThat(a[i]).as("step %d logit %d", step, i).isCloseTo(b[i], within(LOGIT_TOLERANCE));
                worst = Math.max(worst, Math.abs(a[i] - b[i]));
            }
        }
        System.out.printf("%s: largest logit difference %.2e%n", cell, worst);
    }

    @Test
    void mixedBatchStaysOnTheJavaPassAndEachSequenceDecodesAsAlone() {
        List<KvCompressionSpec> mixed = List.of(KvCompressionSpec.NONE, spec("none:0:8"), spec("none:0:4"),
                spec("keydiff:0.75:4"), spec("none:0:2"));
        for (int watched = 0; watched < mixed.size(); watched++) {
            Run together = decode(true, mixed, watched);
            assertThat(together.routes()).containsOnly(ForwardRoute.JAVA);
            Run alone = decodeAlone(mixed.get(watched), watched);
            assertThat(together.tokens()).as("sequence %d (%s)", watched, mixed.get(watched)).isEqualTo(alone.tokens());
        }
    }

    /** Sequence {@code index}'s prompt and spec decoded in a batch of its own. */
    static Run decodeAlone(KvCompressionSpec spec, int index) {
        EngineOptions options = EngineOptions.defaults().withCompressors(KvMethods.defaults());
        try (LlamaEngine engine = EngineLoader.load(model, options)) {
            Sequence s = engine.newSequence("alone", prompt(index),
                    new SamplingParams(0, 1, 0, 0L, STEPS + 2, List.of(), true), spec);
            engine.prefill(List.of(s));
            Run run = new Run(new ArrayList<>(), new ArrayList<>(), new ArrayList<>());
            for (int step = 0; step < STEPS; step++) {
                float[] logits = engine.decodeWithLogits(List.of(s)).get(0);
                run.tokens().add(argmax(logits));
            }
            engine.release(s);
            return run;
        }
    }
}
