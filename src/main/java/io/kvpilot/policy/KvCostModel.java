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
}
