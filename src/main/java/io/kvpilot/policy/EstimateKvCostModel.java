package io.kvpilot.policy;

import io.kvpilot.kvcache.KvCompressionSpec;
import java.util.function.LongSupplier;

/**
 * {@link KvCostModel} from {@link KvCompressionSpec#estimateBytes}, the estimate admission charges today. The model's
 * bytes per token are read lazily: the engine loads after the controller is built.
 */
public final class EstimateKvCostModel implements KvCostModel {

    private final LongSupplier bytesPerToken;

    public EstimateKvCostModel(LongSupplier bytesPerToken) {
        this.bytesPerToken = bytesPerToken;
    }

    @Override
    public long reservedBytes(KvCompressionSpec spec, int promptTokens, int maxTokens) {
        return spec.estimateBytes((long) promptTokens + maxTokens, bytesPerToken.getAsLong());
    }

    @Override
    public long heldAfterPrefillBytes(KvCompressionSpec spec, int promptTokens, int maxTokens) {
        return reservedBytes(spec, promptTokens, maxTokens); // the estimate has no prefill transient to give back
    }
}
