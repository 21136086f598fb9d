package io.kvpilot.policy;

import io.kvpilot.kvcache.KvCompressionSpec;

/**
 * KV bytes a setting costs: what admission reserves for a request, and what a live cache of some length holds. The
 * controller ranks candidates by it, so it has to agree with the scheduler's own reservation arithmetic.
 */
public interface KvCostModel {

    /** Bytes reserved at admission for a request of {@code promptTokens} that may generate {@code maxTokens}. */
    long reservedBytes(KvCompressionSpec spec, int promptTokens, int maxTokens);

    /**
     * The most the request holds once its prompt is prefilled and compressed: what its reservation drops to after its
     * first token (the dense prompt cache and the compaction copies are gone by then). What a setting saves for the
     * requests after this one.
     */
    long heldAfterPrefillBytes(KvCompressionSpec spec, int promptTokens, int maxTokens);

    /**
     * The most a running sequence holds once recompressed to {@code spec} after generating {@code generatedTokens}:
     * what its reservation drops to after a reclaim. The engine compresses every position it has fed (the prompt and
     * all but the last generated token) as if they were the prompt, with the same code as after a prefill, and the
     * sequence then feeds the tokens it may still generate: the footprint of that prompt and that many tokens.
     */
    default long heldAfterRecompressionBytes(KvCompressionSpec spec, int promptTokens, int generatedTokens,
            int maxTokens) {
        int fed = promptTokens + Math.max(0, generatedTokens - 1);
        return heldAfterPrefillBytes(spec, fed, Math.max(1, maxTokens - generatedTokens + 1));
    }
}
