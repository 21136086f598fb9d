package io.kvpilot.engine.batch;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.kvpilot.engine.EngineLoader;
import io.kvpilot.engine.EngineOptions;
import io.kvpilot.engine.FinishReason;
import io.kvpilot.engine.SamplingParams;
import io.kvpilot.engine.Sequence;
import io.kvpilot.kvcache.KvCompressionSpec;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** A sequence whose cache cannot grow within the KV budget fails alone; the rest of its batch carries on. */
class KvBudgetTest {

    @Test
    void outgrowingTheBudgetFailsOnlyThatSequence() {
        // llama-f32: 2 layers × 2 KV heads × 16 dims; one 32-token block of K (or V) in one layer = 4,096 bytes
        long block = 32L * 2 * 16 * 4;
        EngineOptions options = EngineOptions.defaults().withKvBudgetBytes(2 * 4 * block + block / 2);
        try (LlamaEngine engine = EngineLoader.load(Path.of("src/test/resources/parity/llama-f32"), options)) {
            SamplingParams p = new SamplingParams(0, 1, 0, 0L, 6, List.of(), true);
            Sequence grows = engine.newSequence("grows", new int[30], p, KvCompressionSpec.NONE); // 1 block per store
            Sequence stays = engine.newSequence("stays", new int[] {5, 6, 7}, p, KvCompressionSpec.NONE);
            List<Sequence> batch = List.of(grows, stays);
            engine.prefill(batch);
            assertEquals(8 * block, engine.kvBytesInUse()); // 2 sequences × 2 layers × (K + V)
            while (!stays.isFinished()) {
                engine.decode(batch);
            }
            assertEquals(FinishReason.ERROR, grows.finishReason()); // its 33rd position needed a second block
            assertEquals(3, grows.generatedCount());
            assertEquals(FinishReason.LENGTH, stays.finishReason());
            assertEquals(6, stays.generatedCount());
            engine.release(grows);
            engine.release(stays);
            assertEquals(0, engine.kvBytesInUse());
        }
    }
}
