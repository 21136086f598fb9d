package io.kvpilot.engine.batch;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.kvpilot.engine.EngineLoader;
import io.kvpilot.engine.EngineOptions;
import io.kvpilot.engine.ForwardRoute;
import io.kvpilot.engine.SamplingParams;
import io.kvpilot.engine.Sequence;
import io.kvpilot.engine.model.RandomCheckpoint;
import io.kvpilot.kvcache.KeptPositions;
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
 * Decode over int8, KIVI, head-ragged (AdaKV) and low-rank-key caches runs on the Java pass, reading the stores in
 * place, and gives what the libtorch path gives: the same greedy tokens and logits within {@value #LOGIT_TOLERANCE}
 * (the two paths compute K/V in a different fp32 order, which can move a value across a rounding boundary of its
 * code; a wrong scale, zero point, group or nibble order, a padded slot read as an entry or a wrong basis row moves
 * logits by whole units). A batch mixing all of them stays on the Java pass, gives each sequence its tokens decoded
 * alone and what libtorch gives the same batch. Head dimension 64 and three query heads per KV head, as
 * kvpilot-mini's, so KIVI's 32-wide groups apply and the kernels' three-head blocks are full.
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

    /**
     * One sequence's decode: its logits and greedy tokens per step, the steps' routes, and whether its heads kept
     * different counts.
     */
    record Run(List<float[]> logits, List<Integer> tokens, List<ForwardRoute> routes, boolean headRagged) {}

    static Run decode(boolean vector, List<KvCompressionSpec> specs, int watched) {
        return decodeAll(vector, specs).get(watched);
    }

    /** The specs' sequences prefilled one by one, then decoded together; one run per sequence. */
    static List<Run> decodeAll(boolean vector, List<KvCompressionSpec> specs) {
        EngineOptions options = EngineOptions.defaults().withJavaForwardPass(vector).withCompressors(KvMethods.defaults());
        try (LlamaEngine engine = EngineLoader.load(model, options)) {
            List<Sequence> batch = new ArrayList<>();
            for (int i = 0; i < specs.size(); i++) {
                Sequence s = engine.newSequence("s" + i, prompt(i),
                        new SamplingParams(0, 1, 0, 0L, STEPS + 2, List.of(), true), specs.get(i));
                s.traceKeptPositions();
                engine.prefill(List.of(s));
                batch.add(s);
            }
            List<Run> runs = new ArrayList<>();
            for (Sequence s : batch) {
                runs.add(new Run(new ArrayList<>(), new ArrayList<>(), new ArrayList<>(), headRagged(s.keptPositions())));
            }
            for (int step = 0; step < STEPS; step++) {
                List<float[]> logits = engine.decodeWithLogits(batch);
                ForwardRoute route = engine.lastStepStats().route();
                for (int i = 0; i < batch.size(); i++) {
                    runs.get(i).logits().add(logits.get(i));
                    runs.get(i).tokens().add(argmax(logits.get(i)));
                    runs.get(i).routes().add(route);
                }
            }
            batch.forEach(engine::release);
            assertThat(engine.kvBytesInUse()).as("KV freed").isZero();
            return runs;
        }
    }

    /** Whether some layer's KV heads kept different numbers of prompt positions (a padded, head-ragged store). */
    static boolean headRagged(KeptPositions kept) {
        for (int l = 0; kept != null && l < kept.layers(); l++) {
            for (int h = 1; h < kept.kvHeads(); h++) {
                if (kept.kept(l, h).length != kept.kept(l, 0).length) {
                    return true;
                }
            }
        }
        return false;
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

    /**
     * AdaKV cells at every storage width (dense, int8, KIVI int4 and int2), bounded decoding re-compacting them at
     * step 32; low-rank keys at rank 32 and at rank 45 (not a whole number of vectors).
     */
    @ParameterizedTest
    @ValueSource(strings = {"none:0:8", "none:0:4", "none:0:2", "keydiff:0.75:4", "snapkv:0.5:8",
        "adakv_knorm:0.5:16", "adakv_keydiff:0.5:8", "adakv_keydiff:0.75:4", "adakv_snapkv:0.5:2",
        "lowrank_keys:0.5:16", "lowrank_keys:0.3:16"})
    void javaPassMatchesLibtorchOnTheSameFormat(String cell) {
        List<KvCompressionSpec> specs = List.of(spec(cell));
        Run java = decode(true, specs, 0);
        Run torch = decode(false, specs, 0);
        assertThat(java.routes()).as("every decode step on the Java pass").containsOnly(ForwardRoute.JAVA);
        assertThat(torch.routes()).containsOnly(ForwardRoute.VECTOR_DISABLED);
        if (cell.startsWith("adakv")) {
            assertThat(java.headRagged()).as("heads kept different counts: the padding is exercised").isTrue();
        }
        float worst = sameTokensAndLogits(java, torch, cell);
        System.out.printf("%s: largest logit difference %.2e%n", cell, worst);
    }

    /** Asserts equal greedy tokens and logits within the tolerance; returns the largest logit difference. */
    static float sameTokensAndLogits(Run java, Run torch, String what) {
        assertThat(java.tokens()).as("greedy tokens of %s", what).isEqualTo(torch.tokens());
        float worst = 0;
        for (int step = 0; step < STEPS; step++) {
            float[] a = java.logits().get(step);
            float[] b = torch.logits().get(step);
            for (int i = 0; i < a.length; i++) {
                assertThat(a[i]).as("%s step %d logit %d", what, step, i).isCloseTo(b[i], within(LOGIT_TOLERANCE));
                worst = Math.max(worst, Math.abs(a[i] - b[i]));
            }
        }
        return worst;
    }

    @Test
    void batchMixingRaggedAndLowRankWithDenseAndInt8StaysOnTheJavaPassAndMatchesLibtorch() {
        List<KvCompressionSpec> mixed = List.of(KvCompressionSpec.NONE, spec("adakv_keydiff:0.5:16"),
                spec("none:0:8"), spec("lowrank_keys:0.5:16"), spec("adakv_knorm:0.75:4"), spec("adakv_keydiff:0.5:8"));
        List<Run> java = decodeAll(true, mixed);
        List<Run> torch = decodeAll(false, mixed);
        for (int i = 0; i < mixed.size(); i++) {
            assertThat(java.get(i).routes()).as("every step of the mixed batch on the Java pass")
                    .containsOnly(ForwardRoute.JAVA);
            sameTokensAndLogits(java.get(i), torch.get(i), "sequence " + i + " (" + mixed.get(i) + ")");
        }
        assertThat(java.get(1).headRagged()).isTrue();
        for (int i : new int[] {1, 3, 5}) {
            Run alone = decodeAlone(mixed.get(i), i);
            assertThat(java.get(i).tokens()).as("sequence %d (%s) as alone", i, mixed.get(i)).isEqualTo(alone.tokens());
        }
    }

    @Test
    void mixedBatchStaysOnTheJavaPassAndEachSequenceDecodesAsAlone() {
        List<KvCompressionSpec> mixed = List.of(KvCompressionSpec.NONE, spec("none:0:8"), spec("none:0:4"),
                spec("keydiff:0.75:4"), spec("none:0:2"));
        List<Run> runs = decodeAll(true, mixed);
        for (int watched = 0; watched < mixed.size(); watched++) {
            Run together = runs.get(watched);
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
            Run run = new Run(new ArrayList<>(), new ArrayList<>(), new ArrayList<>(), false);
            for (int step = 0; step < STEPS; step++) {
                float[] logits = engine.decodeWithLogits(List.of(s)).get(0);
                run.tokens().add(argmax(logits));
            }
            engine.release(s);
            return run;
        }
    }
}
