package io.kvpilot.engine.batch;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvpilot.engine.EngineLoader;
import io.kvpilot.engine.EngineOptions;
import io.kvpilot.engine.FinishReason;
import io.kvpilot.engine.SamplingParams;
import io.kvpilot.engine.Sequence;
import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.kvcache.press.KvMethod;
import io.kvpilot.kvcache.press.KvMethods;
import io.kvpilot.kvcache.quant.KvFormat;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A sequence whose compression after prefill throws fails alone: the prompts prefilled in the same pass and the
 * streams decoding in it go on, and the failed one's KV bytes are freed. The fault is injected (a format whose
 * conversion throws), since every shipped method can store what the engine admits.
 */
class CompressionFailureIsolationTest {

    static final Path MODEL = Path.of("src/test/resources/parity/llama-f32");
    static final KvCompressionSpec BROKEN = new KvCompressionSpec("broken_format", 0.0, 8);
    static final SamplingParams GREEDY = new SamplingParams(0, 1, 0, 1L, 12, List.of(), true);

    static LlamaEngine engine;

    @BeforeAll
    static void load() {
        KvFormat throwing = (pool, manager, keys, values, mask) -> {
            throw new IllegalStateException("injected conversion failure");
        };
        KvMethods methods = KvMethods.defaults().register("broken_format", spec -> new KvMethod(spec, null, throwing, 0));
        engine = EngineLoader.load(MODEL, EngineOptions.defaults().withCompressors(methods));
    }

    @AfterAll
    static void close() {
        engine.close();
    }

    @Test
    void aPromptWhoseCompressionFailsDoesNotFailThePromptsPrefilledWithIt() {
        Sequence ok = engine.newSequence("ok", prompt(20, 5), GREEDY, KvCompressionSpec.NONE);
        Sequence broken = engine.newSequence("broken", prompt(17, 9), GREEDY, BROKEN);
        Sequence alsoOk = engine.newSequence("also-ok", prompt(11, 13), GREEDY, new KvCompressionSpec("none", 0, 8));

        engine.prefill(List.of(ok, broken, alsoOk)); // one pass: 48 prompt tokens

        assertThat(broken.finishReason()).isEqualTo(FinishReason.ERROR);
        assertThat(ok.isFinished()).isFalse();
        assertThat(alsoOk.isFinished()).isFalse();
        for (int i = 0; i < 5; i++) {
            engine.decode(List.of(ok, alsoOk));
        }
        assertThat(ok.generatedCount()).isEqualTo(6);
        assertThat(alsoOk.generatedCount()).isEqualTo(6);
        releaseAll(ok, broken, alsoOk);
    }

    @Test
    void aPromptWhoseCompressionFailsInADecodeStepDoesNotFailTheStreamsDecodingInIt() {
        Sequence stream = engine.newSequence("stream", prompt(30, 21), GREEDY, KvCompressionSpec.NONE);
        engine.prefill(List.of(stream));
        Sequence broken = engine.newSequence("broken", prompt(9, 23), GREEDY, BROKEN);

        engine.step(List.of(broken), List.of(stream)); // prompt and decode token in one pass (at most 64 tokens)

        assertThat(broken.finishReason()).isEqualTo(FinishReason.ERROR);
        assertThat(stream.isFinished()).isFalse();
        assertThat(stream.generatedCount()).isEqualTo(2);
        engine.step(List.of(), List.of(stream));
        assertThat(stream.generatedCount()).isEqualTo(3);
        releaseAll(stream, broken);
    }

    private static void releaseAll(Sequence... sequences) {
        for (Sequence s : sequences) {
            engine.release(s);
        }
        assertThat(engine.kvBytesInUse()).as("KV bytes in use once all are released").isZero();
    }

    private static int[] prompt(int length, int seed) {
        return new java.util.Random(seed).ints(length, 3, engine.modelInfo().vocabSize()).toArray();
    }
}
