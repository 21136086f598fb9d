package io.kvpilot.kvcache.press;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import io.kvpilot.engine.EngineLoader;
import io.kvpilot.engine.EngineOptions;
import io.kvpilot.engine.batch.LlamaEngine;
import io.kvpilot.engine.SamplingParams;
import io.kvpilot.engine.Sequence;
import io.kvpilot.kvcache.KeptPositions;
import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.kvcache.KvCompressor;
import io.kvpilot.kvcache.PrefillObservation;
import io.kvpilot.kvcache.SequenceKvCache;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * What a traced sequence reports as kept (the KV inspector's data) is what its method's plan kept, per layer and head,
 * on the real engine and model: the plans are computed independently from the same prefilled cache before the method
 * compresses it, as the kvpress parity test reads them.
 */
class KeptPositionsTraceTest {

    static LlamaEngine engine;
    static final List<KeepPlan> plans = new ArrayList<>();

    @BeforeAll
    static void load() throws Exception {
        KvMethods methods = KvMethods.defaults();
        engine = EngineLoader.load(Path.of("models/kvpilot-mini"), EngineOptions.defaults().withCompressors(spec -> {
            KvMethod m = methods.create(spec);
            return new KvCompressor() {
                @Override
                public int observationWindow() {
                    return m.observationWindow();
                }

                @Override
                public boolean wantsAttentionSums() {
                    return m.wantsAttentionSums();
                }

                @Override
                public void afterPrefill(SequenceKvCache cache, PrefillObservation observation) {
                    m.afterPrefill(cache, observation);
                }

                @Override
                public void afterPrefill(SequenceKvCache cache, PrefillObservation observation, KeptPositions kept) {
                    plans.clear();
                    for (int l = 0; l < cache.layerCount(); l++) {
                        try (NDManager scope = cache.manager().newSubManager()) {
                            plans.add(m.plan(m.view(cache, l, observation, scope)));
                        }
                    }
                    m.afterPrefill(cache, observation, kept);
                }
            };
        }));
    }

    @AfterAll
    static void close() {
        engine.close();
    }

    private static int[] prompt() {
        return engine.textCodec().encode("Once upon a time, there was a little rabbit named Pip who lived under an "
                + "old oak tree. Pip loved carrots. One morning Pip found a shiny golden key next to the river.", true);
    }

    @ParameterizedTest(name = "{0} at {1}, {2} bits")
    @CsvSource({"snapkv, 0.5, 16", "keydiff, 0.75, 4", "adakv_snapkv, 0.5, 16", "streaming_llm, 0.6, 8",
        "pyramidkv, 0.5, 16"})
    void aTracedSequenceReportsWhatItsMethodsPlanKept(String method, double ratio, int bits) {
        int[] ids = prompt();
        Sequence seq = engine.newSequence("traced", ids, SamplingParams.greedy(1),
                new KvCompressionSpec(method, ratio, bits));
        seq.traceKeptPositions();
        engine.prefill(List.of(seq));
        engine.release(seq);

        KeptPositions kept = seq.keptPositions();
        assertThat(kept.tokens()).isEqualTo(ids.length);
        assertThat(kept.layers()).isEqualTo(plans.size()).isEqualTo(engine.modelInfo().layers());
        int[] counts = new int[ids.length];
        long entries = 0;
        for (int l = 0; l < kept.layers(); l++) {
            for (int h = 0; h < kept.kvHeads(); h++) {
                int[] positions = kept.kept(l, h);
                assertThat(positions).as("layer %d head %d", l, h).containsExactly(plans.get(l).kept()[h]);
                for (int p : positions) {
                    counts[p]++;
                }
                entries += positions.length;
            }
        }
        assertThat(kept.keptCounts()).containsExactly(counts);
        assertThat(entries).isLessThan((long) kept.layers() * kept.kvHeads() * ids.length); // it did evict
    }

    @Test
    void quantizationAloneKeepsEveryPositionAndAnUntracedSequenceRecordsNothing() {
        int[] ids = prompt();
        Sequence quantized = engine.newSequence("int8", ids, SamplingParams.greedy(1), new KvCompressionSpec("none", 0, 8));
        quantized.traceKeptPositions();
        Sequence untraced = engine.newSequence("plain", ids, SamplingParams.greedy(1),
                new KvCompressionSpec("snapkv", 0.5, 16));
        engine.prefill(List.of(quantized, untraced));
        engine.release(quantized);
        engine.release(untraced);

        assertThat(quantized.keptPositions().keptCounts()).containsOnly(engine.modelInfo().layers()
                * engine.modelInfo().kvHeads());
        assertThat(untraced.keptPositions()).isNull();
    }
}
