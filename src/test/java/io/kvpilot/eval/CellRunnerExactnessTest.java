package io.kvpilot.eval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kvpilot.engine.EngineOptions;
import io.kvpilot.engine.model.RandomCheckpoint;
import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.kvcache.press.KvMethods;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The evaluation harness on a small random LLaMA: ratio 0 at 16 bits is bit-identical to the uncompressed run (a
 * real prefill of the context, no graft) for every method; a grafted run (prefill once, copy the cache into each
 * spec's sequence) is bit-identical to a real prefill under compression too; the batched grid's check accepts it.
 */
class CellRunnerExactnessTest {

    @TempDir
    static Path dir;

    static CellRunner runner;

    static final List<String> METHODS = List.of("streaming_llm", "h2o", "snapkv", "pyramidkv", "tova", "knorm",
            "adakv_snapkv", "lowrank_keys");

    @BeforeAll
    static void load() throws Exception {
        RandomCheckpoint.write(dir.resolve("tiny"), RandomCheckpoint.Spec.llama(128, 2, 4, 2, 256, 101), 13);
        runner = CellRunner.load(dir.resolve("tiny"), EngineOptions.defaults().withPrefillChunkTokens(32),
                KvMethods.defaults());
    }

    @AfterAll
    static void close() {
        runner.close();
    }

    static int[] ids(int n, long seed) {
        return new Random(seed).ints(n, 3, 101).toArray();
    }

    static void assertBitIdentical(CellRunner.Result a, CellRunner.Result b, String what) {
        assertArrayEquals(b.generated(), a.generated(), what);
        for (int i = 1; i < a.logProbs().length; i++) {
            assertEquals(Double.doubleToLongBits(b.logProbs()[i]), Double.doubleToLongBits(a.logProbs()[i]),
                    what + " log p of forced token " + i);
        }
    }

    @Test
    void ratioZeroAt16BitsIsBitIdenticalToNoCompression() {
        int[] ctx = ids(90, 1), forced = ids(7, 2);
        CellRunner.Result direct = runner.runDirect(ctx, forced, 5, true, KvCompressionSpec.NONE);
        assertEquals(forced.length + 5, direct.generated().length);
        for (String m : METHODS) {
            KvCompressionSpec spec = new KvCompressionSpec(m, 0, 16);
            // the ordinary engine path with the method at ratio 0
            assertBitIdentical(runner.runDirect(ctx, forced, 5, true, spec), direct, m + " direct");
            // the harness's grafted path
            assertBitIdentical(runner.run(ctx, forced, 5, true, List.of(spec)).get(0), direct, m + " grafted");
        }
        assertBitIdentical(runner.run(ctx, forced, 5, true, List.of(KvCompressionSpec.NONE)).get(0), direct, "none");
    }

    @Test
    void graftedCompressionEqualsARealPrefillUnderTheSameSpec() {
        int[] ctx = ids(120, 3), forced = ids(6, 4);
        for (KvCompressionSpec spec : List.of(new KvCompressionSpec("snapkv", 0.5, 16),
                new KvCompressionSpec("adakv_snapkv", 0.75, 4), new KvCompressionSpec("streaming_llm", 0.5, 8),
                new KvCompressionSpec("none", 0, 2), new KvCompressionSpec("pyramidkv", 0.25, 16))) {
            CellRunner.Result direct = runner.runDirect(ctx, forced, 3, true, spec);
            CellRunner.Result grafted = runner.run(ctx, forced, 3, true, List.of(spec)).get(0);
            assertBitIdentical(grafted, direct, spec.toString());
            assertEquals(direct.bytes(), grafted.bytes(), spec + " bytes held after compression");
            assertTrue(grafted.bytes() < grafted.bytesUncompressed(), spec + " holds less than the fp32 cache");
        }
    }

    @Test
    void batchedGridPassesTheHarnessCheckAndCatchesADifference() {
        int[] ctx = ids(100, 5), forced = ids(9, 6);
        List<KvCompressionSpec> specs = new ArrayList<>(List.of(KvCompressionSpec.NONE));
        METHODS.forEach(m -> specs.add(new KvCompressionSpec(m, 0, 16)));
        specs.add(new KvCompressionSpec("snapkv", 0.9, 2));
        List<CellRunner.Result> res = runner.run(ctx, forced, 4, false, specs);
        CompressionEval.Job job = new CompressionEval.Job("ppl", "t", 100, 0, 0, ctx, forced, 4, "");
        CompressionEval.checkBatched(res, job);
        // a 'ratio 0' result whose log-probs differ must be refused
        CellRunner.Result r = res.get(1);
        double[] lp = r.logProbs().clone();
        lp[2] += 1e-3;
        List<CellRunner.Result> bad = new ArrayList<>(res);
        bad.set(1, new CellRunner.Result(r.spec(), r.generated(), lp, r.bytes(), r.bytesUncompressed(), r.contextTokens()));
        assertThrows(IllegalStateException.class, () -> CompressionEval.checkBatched(bad, job));
    }
}
