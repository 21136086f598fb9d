package io.kvpilot.policy;

import io.kvpilot.engine.GenerationEngine;
import io.kvpilot.kvcache.KvCompressionSpec;
import java.util.function.Supplier;

/**
 * {@link KvCostModel} from the engine's exact footprint ({@link GenerationEngine#predictKv}): the peak bytes admission
 * reserves, and the most it holds once its prompt is prefilled. The engine is read lazily: it loads after the
 * controller is built.
 */
public final class EngineKvCostModel implements KvCostModel {

    private final Supplier<GenerationEngine> engine;

    public EngineKvCostModel(Supplier<GenerationEngine> engine) {
        this.engine = engine;
    }

    @Override
    public long reservedBytes(KvCompressionSpec spec, int promptTokens, int maxTokens) {
        return engine.get().predictKv(spec, promptTokens, maxTokens).peakBytes();
    }

    @Override
    public long heldAfterPrefillBytes(KvCompressionSpec spec, int promptTokens, int maxTokens) {
        return engine.get().predictKv(spec, promptTokens, maxTokens).peakAfterPrefillBytes();
    }

    @Override
    public long heldAfterRecompressionBytes(KvCompressionSpec spec, int promptTokens, int generatedTokens,
            int maxTokens) {
        return engine.get().predictHeldAfterRecompression(spec, promptTokens, generatedTokens, maxTokens);
    }
}
