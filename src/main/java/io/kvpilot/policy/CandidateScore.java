package io.kvpilot.policy;

import io.kvpilot.kvcache.KvCompressionSpec;

/**
 * One setting the controller weighed for a request.
 *
 * @param spec the setting
 * @param quality predicted quality retention in [0, 1] (NaN where no predictor answered)
 * @param bytes KV bytes it would reserve at admission (its peak, prefill included)
 * @param heldBytes the most it holds once prefilled and compressed, what its reservation then drops to: the bytes
 *     the pressure rule shares out
 * @param tpotSeconds predicted time per output token of the batch with it admitted (NaN until the step model is warm)
 * @param verdict {@code chosen}; {@code fits} (within every limit); under pressure {@code over_level} (fits the free
 *     bytes but would keep the projected use over the exit level); {@code over_budget}, {@code below_floor} or
 *     {@code over_latency}
 */
public record CandidateScore(KvCompressionSpec spec, double quality, long bytes, long heldBytes, double tpotSeconds,
        String verdict) {

    CandidateScore withVerdict(String other) {
        return new CandidateScore(spec, quality, bytes, heldBytes, tpotSeconds, other);
    }
}
