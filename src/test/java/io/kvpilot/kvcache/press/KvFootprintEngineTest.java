package io.kvpilot.kvcache.press;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvpilot.engine.EngineLoader;
import io.kvpilot.engine.EngineOptions;
import io.kvpilot.engine.batch.LlamaEngine;
import io.kvpilot.engine.model.RandomCheckpoint;
import io.kvpilot.engine.SamplingParams;
import io.kvpilot.engine.Sequence;
import io.kvpilot.kvcache.KvCompressionSpec;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Predicted KV bytes equal the bytes the real engine holds, for every registered method × ratios × bit widths: the
 * peak its pool account measured (compaction copies included), the peak once prefill and its compression are over
 * (what the scheduler lowers a reservation to) and what it holds after its last token. Exact for
 * methods whose heads keep equal counts; an upper bound for AdaKV's head-wise budgets. Run on a random LLaMA with
 * KVPilot-mini's head dimension (64, so KIVI's 32-wide groups apply), for a short prompt with a long answer (bounded
 * decoding does the work) and a long prompt with a short answer (compaction after prefill does), that one also fed
 * in chunks over several steps.
 */
class KvFootprintEngineTest {

    @TempDir
    static Path dir;

    static LlamaEngine engine;
    static KvMethods methods = KvMethods.defaults();

    @BeforeAll
    static void load() throws Exception {
        Path checkpoint = RandomCheckpoint.write(dir.resolve("tiny"),
                RandomCheckpoint.Spec.llama(128, 3, 2, 2, 128, 101), 5);
        engine = EngineLoader.load(checkpoint, EngineOptions.defaults().withCompressors(methods));
    }

    @AfterAll
    static void close() {
        engine.close();
    }

    /**
     * Every method at two ratios, dense and KIVI-4; int8 and KIVI-2 (other byte arithmetic, same code paths) on one
     * method of each kind; all four widths without eviction.
     */
    static List<KvCompressionSpec> grid() {
        List<String> allWidths = List.of("none", "snapkv", "streaming_llm", "pyramidkv", "adakv_keydiff");
        List<KvCompressionSpec> specs = new ArrayList<>();
        for (String method : methods.names()) {
            if (!method.matches(System.getProperty("footprint.methods", ".*"))) {
                continue;
            }
            for (double ratio : method.equals("none") ? new double[] {0.0} : new double[] {0.25, 0.8}) {
                int[] widths = method.equals("lowrank_keys") ? new int[] {16}
                        : allWidths.contains(method) ? new int[] {16, 8, 4, 2} : new int[] {16, 4};
                for (int bits : widths) {
                    specs.add(new KvCompressionSpec(method, ratio, bits));
                }
            }
        }
        return specs;
    }

    /** {@code chunk}: prompt tokens per step for the batch, as the scheduler feeds long prompts; 0 prefills whole. */
    @ParameterizedTest(name = "prompt {0}, {1} generated, chunks of {2}")
    @CsvSource({"9, 70, 0", "200, 6, 0", "40, 40, 0", "200, 6, 96"})
    void predictedBytesAreTheBytesHeld(int prompt, int generated, int chunk) {
        List<KvCompressionSpec> specs = grid();
        Random rnd = new Random(prompt);
        List<Sequence> batch = new ArrayList<>();
        for (KvCompressionSpec spec : specs) {
            int[] ids = rnd.ints(prompt, 3, 101).toArray();
            batch.add(engine.newSequence(spec.toString(), ids,
                    new SamplingParams(0.0, 1.0, 0, 1L, generated, List.of(), true), spec));
        }
        for (int from = 0; from < batch.size(); from += 16) { // batches of 16, as serving runs them
            List<Sequence> part = batch.subList(from, Math.min(batch.size(), from + 16));
            if (chunk == 0) {
                engine.prefill(part);
            }
            while (part.stream().anyMatch(s -> s.generatedCount() == 0 && !s.isFinished())) {
                engine.step(part.stream().filter(s -> s.generatedCount() == 0).toList(), List.of(), chunk);
            }
            while (part.stream().anyMatch(s -> !s.isFinished())) {
                engine.decode(part);
            }
            part.forEach(engine::release);
        }
        assertThat(engine.kvBytesInUse()).isZero();
        List<String> wrong = new ArrayList<>();
        for (int i = 0; i < specs.size(); i++) {
            KvCompressionSpec spec = specs.get(i);
            Sequence s = batch.get(i);
            assertThat(s.generatedCount()).as("%s ran to max_tokens", spec).isEqualTo(generated);
            KvFootprint predicted = engine.predictKv(spec, prompt, generated);
            boolean ok = predicted.exact()
                    ? predicted.peakBytes() == s.kvPeakBytes() && predicted.endBytes() == s.kvBytes()
                            && predicted.peakAfterPrefillBytes() == s.kvPeakAfterPrefillBytes()
                    : predicted.peakBytes() >= s.kvPeakBytes() && predicted.endBytes() >= s.kvBytes()
                            && predicted.peakAfterPrefillBytes() >= s.kvPeakAfterPrefillBytes();
            if (!ok) {
                wrong.add(spec + ": predicted peak/after prefill/end " + predicted.peakBytes() + "/"
                        + predicted.peakAfterPrefillBytes() + "/" + predicted.endBytes() + " (exact " + predicted.exact()
                        + "), held " + s.kvPeakBytes() + "/" + s.kvPeakAfterPrefillBytes() + "/" + s.kvBytes());
            }
        }
        assertThat(wrong).isEmpty();
    }
}
