package io.kvpilot.policy;

import io.kvpilot.kvcache.KvCompressionSpec;

/**
 * KV bytes a setting costs: what admission reserves for a request, and what a live cache of some length holds. The
 * controller ranks candidates by it, so it has to agree with the scheduler's own reservation arithmetic.
 */
public interface KvCostModel {

    /** Bytes reserved at admission for a request of {@code promptTokens} that may generate {@code maxTokens}. */
    long reservedBytes(KvCompressionSpec spec, int promptTokens, int maxTokens);

    /** Bytes a cache of {@code positions} fed tokens holds under {@code spec}. */
    long heldBytes(KvCompressionSpec spec, int positions);
}
