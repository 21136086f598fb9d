package io.kvpilot.engine.batch;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvpilot.engine.EngineLoader;
import io.kvpilot.engine.EngineOptions;
import io.kvpilot.engine.FinishReason;
import io.kvpilot.engine.GenerationEngine;
import io.kvpilot.engine.SamplingParams;
import io.kvpilot.engine.Sequence;
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
 * A prompt fed over several steps under a prefill budget ({@link GenerationEngine#step} with {@code prefillTokens}):
 * running sequences decode a token at every one of those steps, the prompt's cache is compressed only once the whole
 * prompt is in (so an observation-window method chooses what it chooses for the whole prompt), a window larger than
 * the budget does not stall it, and a sequence cancelled mid-prefill frees its cache at the next step.
 */
class ChunkedPrefillTest {

    @TempDir
    static Path dir;

    static LlamaEngine engine;

    @BeforeAll
    static void load() throws Exception {
        RandomCheckpoint.write(dir.resolve("m"), RandomCheckpoint.Spec.llama(64, 2, 4, 2, 128, 97), 17);
        engine = EngineLoader.load(dir.resolve("m"), EngineOptions.defaults().withCompressors(KvMethods.defaults()));
    }

    @AfterAll
    static void close() {
        engine.close();
    }

    static int[] prompt(int n, long seed) {
        return new Random(seed).ints(n, 3, 97).toArray();
    }

    static Sequence sequence(String id, int[] prompt, int maxTokens, KvCompressionSpec spec) {
        return engine.newSequence(id, prompt, new SamplingParams(0, 1, 0, 0L, maxTokens, List.of(), true), spec);
    }

    /** Steps {@code s} alone with the prefill budget until it has its first token; returns the steps taken. */
    static int prefillAlone(Sequence s, int budget) {
        int steps = 0;
        while (s.generatedCount() == 0 && !s.isFinished()) {
            engine.step(List.of(s), List.of(), budget);
            steps++;
        }
        return steps;
    }

    static int[] finish(Sequence s) {
        while (!s.isFinished()) {
            engine.step(List.of(), List.of(s), 1);
        }
        engine.release(s);
        return s.generatedIds();
    }

    @Test
    void runningSequencesDecodeATokenAtEveryStepOfALongPrefill() {
        Sequence running = sequence("running", prompt(5, 1), 100, KvCompressionSpec.NONE);
        engine.step(List.of(running), List.of(), 64);
        Sequence longPrompt = sequence("long", prompt(300, 2), 3, KvCompressionSpec.NONE);
        int steps = 0;
        while (longPrompt.generatedCount() == 0) {
            int before = running.generatedCount();
            engine.step(List.of(longPrompt), List.of(running), 64);
            steps++;
            assertThat(running.generatedCount()).as("a decode token at prefill step %d", steps).isEqualTo(before + 1);
            assertThat(engine.lastStepStats().tokens()).as("tokens of step %d", steps).isLessThanOrEqualTo(64 + 1);
        }
        assertThat(steps).isEqualTo(5); // 300 tokens in chunks of 64
        running.requestCancel();
        finish(running);
        assertThat(finish(longPrompt)).isEqualTo(finish(whole(prompt(300, 2), 3, KvCompressionSpec.NONE)));
        assertThat(engine.kvBytesInUse()).isZero();
    }

    private static Sequence whole(int[] prompt, int maxTokens, KvCompressionSpec spec) {
        Sequence s = sequence("whole", prompt, maxTokens, spec);
        assertThat(prefillAlone(s, Integer.MAX_VALUE)).isEqualTo(1);
        return s;
    }

    @Test
    void compressionByTheLastQueriesSeesTheWholePromptAndKeepsWhatAWholePrefillKeeps() {
        // snapkv scores the cache with the attention of the prompt's last window of queries: compressed after an
        // early chunk it would keep other entries (and hold fewer bytes than the whole prompt's compression leaves)
        for (String method : new String[] {"snapkv", "h2o", "keydiff"}) {
            KvCompressionSpec spec = new KvCompressionSpec(method, 0.5, 16);
            int[] ids = prompt(181, 3);
            Sequence chunked = sequence("chunked", ids, 12, spec);
            assertThat(prefillAlone(chunked, 16)).as(method).isGreaterThan(5);
            Sequence reference = whole(ids, 12, spec);
            assertThat(engine.kvCache(chunked).bytes()).as(method).isEqualTo(engine.kvCache(reference).bytes());
            assertThat(engine.kvCache(chunked).positions()).as(method).isEqualTo(engine.kvCache(reference).positions());
            assertThat(finish(chunked)).as(method).isEqualTo(finish(reference));
        }
        assertThat(engine.kvBytesInUse()).isZero();
    }

    @Test
    void aBudgetSmallerThanTheObservationWindowStillCompletesThePromptWithTheWholeWindowInItsLastPiece() {
        KvCompressionSpec spec = new KvCompressionSpec("snapkv", 0.5, 16);
        int[] ids = prompt(100, 4);
        Sequence chunked = sequence("small-budget", ids, 6, spec);
        int steps = prefillAlone(chunked, 5);
        assertThat(chunked.generatedCount()).isEqualTo(1);
        assertThat(steps).isLessThan(100 / 5 + 1); // the last piece, the window, went in at once
        assertThat(finish(chunked)).isEqualTo(finish(whole(ids, 6, spec)));
    }

    @Test
    void aSequenceCancelledMidPrefillFreesItsCacheAtTheNextStep() {
        Sequence running = sequence("running", prompt(6, 5), 50, KvCompressionSpec.NONE);
        engine.step(List.of(running), List.of(), 64);
        long runningBytes = engine.kvBytesInUse();
        Sequence cancelled = sequence("cancelled", prompt(250, 6), 5, KvCompressionSpec.NONE);
        engine.step(List.of(cancelled), List.of(running), 32);
        engine.step(List.of(cancelled), List.of(running), 32);
        assertThat(cancelled.generatedCount()).isZero();
        long withPartial = engine.kvBytesInUse();
        assertThat(withPartial).as("the partial prompt's cache").isGreaterThan(runningBytes);

        cancelled.requestCancel();
        engine.step(List.of(cancelled), List.of(running), 32);

        assertThat(cancelled.finishReason()).isEqualTo(FinishReason.CANCELLED);
        assertThat(engine.kvCache(cancelled)).isNull();
        assertThat(engine.kvBytesInUse()).as("only the running sequence's cache").isLessThan(withPartial);
        engine.release(cancelled);
        running.requestCancel();
        finish(running);
        assertThat(engine.kvBytesInUse()).isZero();
        assertThat(engine.liveSequences()).isZero();
    }

    @Test
    void promptsStillPrefillingShareTheBudgetOldestFirst() {
        Sequence first = sequence("first", prompt(100, 7), 2, KvCompressionSpec.NONE);
        Sequence second = sequence("second", prompt(30, 8), 2, KvCompressionSpec.NONE);
        List<Integer> firstTokenStep = new ArrayList<>(List.of(-1, -1));
        for (int step = 0; first.generatedCount() == 0 || second.generatedCount() == 0; step++) {
            engine.step(List.of(first, second), List.of(), 40);
            assertThat(engine.lastStepStats().tokens()).isLessThanOrEqualTo(40);
            if (first.generatedCount() > 0 && firstTokenStep.get(0) < 0) {
                firstTokenStep.set(0, step);
            }
            if (second.generatedCount() > 0 && firstTokenStep.get(1) < 0) {
                firstTokenStep.set(1, step);
            }
        }
        // 40 + 40 + 20 for the first, whose last step leaves 20 for the second's 30, which ends a step later
        assertThat(firstTokenStep).containsExactly(2, 3);
        finish(first);
        finish(second);
        assertThat(engine.kvBytesInUse()).isZero();
    }
}
