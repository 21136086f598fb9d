package io.kvpilot.engine.batch;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvpilot.engine.EngineLoader;
import io.kvpilot.engine.EngineOptions;
import io.kvpilot.engine.FinishReason;
import io.kvpilot.engine.GenerationEngine;
import io.kvpilot.engine.SamplingParams;
import io.kvpilot.engine.Sequence;
import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.kvcache.press.KvMethods;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Batch invariance on kvpilot-mini: a greedy request gets the same tokens whatever else shares its steps (alone, or
 * with 1, 3 or 7 others of other lengths arriving at other times), whichever forward pass runs a step (a batch with an
 * int8 sequence runs on libtorch, a small dense one on the Java pass), and whether its prompt went in whole or in
 * chunks of 16, 64 or an odd size — the steps driven as the scheduler drives them ({@link GenerationEngine#step}
 * with a prefill budget).
 */
class BatchInvarianceTest {

    static final Path MODEL = Path.of("models/kvpilot-mini");
    static final int TOKENS = 24;
    static final int WHOLE = Integer.MAX_VALUE;

    static LlamaEngine engine;
    static int[] target;
    static int[] solo;

    @BeforeAll
    static void load() {
        engine = EngineLoader.load(MODEL, EngineOptions.defaults().withCompressors(KvMethods.defaults()::create));
        target = engine.textCodec().encode("The old lighthouse keeper climbed the stairs every evening to light the"
                + " lamp. One night a storm came from the sea, and the waves rose higher than the rocks. He saw a small"
                + " boat far away, its sail torn, and he knew the sailors could not see the shore without his light."
                + " So he", true);
        solo = run(WHOLE, new Arrival(target, 0, KvCompressionSpec.NONE)).get(0);
    }

    @AfterAll
    static void close() {
        engine.close();
    }

    /** A request that joins at step {@code at}. */
    record Arrival(int[] prompt, int at, KvCompressionSpec spec) {}

    static int[] filler(int length, long seed) {
        return new Random(seed).ints(length, 4, engine.modelInfo().vocabSize()).toArray();
    }

    /**
     * Runs the arrivals to the end as the scheduler would: each step feeds the prompts not yet all in ({@code chunk}
     * tokens in all) and decodes the others. Returns each arrival's generated tokens, and checks the pool is empty.
     */
    static List<int[]> run(int chunk, Arrival... arrivals) {
        List<Sequence> sequences = new ArrayList<>();
        for (int i = 0; i < arrivals.length; i++) {
            sequences.add(engine.newSequence("s" + i, arrivals[i].prompt(),
                    new SamplingParams(0, 1, 0, 0L, TOKENS, List.of(), true), arrivals[i].spec()));
        }
        for (int step = 0; sequences.stream().anyMatch(s -> !s.isFinished()); step++) {
            List<Sequence> prefilling = new ArrayList<>();
            List<Sequence> decoding = new ArrayList<>();
            for (int i = 0; i < arrivals.length; i++) {
                Sequence s = sequences.get(i);
                if (arrivals[i].at() <= step && !s.isFinished()) {
                    (s.generatedCount() == 0 ? prefilling : decoding).add(s);
                }
            }
            engine.step(prefilling, decoding, chunk);
            assertThat(step).as("steps").isLessThan(10_000);
        }
        List<int[]> out = new ArrayList<>();
        for (Sequence s : sequences) {
            assertThat(s.finishReason()).isEqualTo(FinishReason.LENGTH);
            engine.release(s);
            out.add(s.generatedIds());
        }
        assertThat(engine.kvBytesInUse()).isZero();
        return out;
    }

    @Test
    void theSoloRunIsWhatTheEngineGeneratesThroughPrefillAndDecode() {
        // the reference itself: the step API with a whole prompt matches plain prefill + decode
        Sequence s = engine.newSequence("plain", target, new SamplingParams(0, 1, 0, 0L, TOKENS, List.of(), true),
                KvCompressionSpec.NONE);
        engine.prefill(List.of(s));
        while (!s.isFinished()) {
            engine.decode(List.of(s));
        }
        engine.release(s);
        assertThat(s.generatedIds()).hasSize(TOKENS).isEqualTo(solo);
    }

    @Test
    void chunkingThePromptDoesNotChangeItsTokens() {
        for (int chunk : new int[] {16, 64, 37, 1, WHOLE}) {
            assertThat(run(chunk, new Arrival(target, 0, KvCompressionSpec.NONE)).get(0))
                    .as("prompt of %d tokens in chunks of %d", target.length, chunk).isEqualTo(solo);
        }
    }

    @Test
    void othersInTheBatchDoNotChangeItsTokens() {
        for (int others : new int[] {1, 3, 7}) {
            for (int chunk : new int[] {WHOLE, 16, 64, 37}) {
                Arrival[] arrivals = new Arrival[others + 1];
                for (int i = 0; i < others; i++) {
                    // lengths 5..~300, some already decoding when the target arrives, some joining after it
                    arrivals[i] = new Arrival(filler(5 + 97 * i % 300, i), i % 2 == 0 ? 0 : 3 + i,
                            KvCompressionSpec.NONE);
                }
                arrivals[others] = new Arrival(target, 2, KvCompressionSpec.NONE);
                assertThat(run(chunk, arrivals).get(others)).as("with %d others, chunks of %d", others, chunk)
                        .isEqualTo(solo);
            }
        }
    }

    @Test
    void aCompressedNeighbourThatSendsTheStepToLibtorchDoesNotChangeItsTokens() {
        // an int8 cache makes every step it is in run on libtorch; the target's steps alternate between the paths
        KvCompressionSpec int8 = new KvCompressionSpec("none", 0.0, 8);
        Arrival[] arrivals = {new Arrival(filler(40, 11), 0, int8),
            new Arrival(filler(9, 12), 5, KvCompressionSpec.NONE), new Arrival(target, 1, KvCompressionSpec.NONE)};
        long javaBefore = engine.vectorPasses();
        assertThat(run(16, arrivals).get(2)).isEqualTo(solo);
        assertThat(engine.vectorPasses()).as("some of the steps ran on the Java pass").isGreaterThan(javaBefore);
    }

    @Test
    void allOnLibtorchGivesTheSameTokensAsTheJavaPass() {
        try (LlamaEngine torch = EngineLoader.load(MODEL, EngineOptions.defaults().withJavaForwardPass(false))) {
            for (int chunk : new int[] {WHOLE, 16}) {
                Sequence s = torch.newSequence("torch", target, new SamplingParams(0, 1, 0, 0L, TOKENS, List.of(),
                        true), KvCompressionSpec.NONE);
                Sequence other = torch.newSequence("other", filler(70, 5), new SamplingParams(0, 1, 0, 0L, TOKENS,
                        List.of(), true), KvCompressionSpec.NONE);
                while (!s.isFinished()) {
                    List<Sequence> prefilling = new ArrayList<>();
                    List<Sequence> decoding = new ArrayList<>();
                    for (Sequence q : List.of(other, s)) {
                        if (!q.isFinished()) {
                            (q.generatedCount() == 0 ? prefilling : decoding).add(q);
                        }
                    }
                    torch.step(prefilling, decoding, chunk);
                }
                torch.release(s);
                torch.release(other);
                assertThat(s.generatedIds()).as("libtorch, chunks of %d", chunk).isEqualTo(solo);
                assertThat(torch.vectorPasses()).isZero();
            }
        }
    }
}
