package io.kvpilot.serving;

import io.kvpilot.kvcache.KeptPositions;
import io.kvpilot.policy.PolicyDecision;

/**
 * Token counts and the KV cache report of one finished request ({@code usage} and {@code usage.kv_cache} in the API).
 *
 * @param promptTokens tokens of the prompt
 * @param completionTokens tokens generated
 * @param kvCache what the sequence's cache held at its end
 * @param inspection what compression kept and who decided it, for an inspected request ({@link
 *     GenerationRequest#inspect}); null otherwise
 */
public record Usage(int promptTokens, int completionTokens, KvReport kvCache, KvInspection inspection) {

    public Usage(int promptTokens, int completionTokens, KvReport kvCache) {
        this(promptTokens, completionTokens, kvCache, null);
    }

    public int totalTokens() {
        return promptTokens + completionTokens;
    }

    /**
     * @param method compression method applied
     * @param ratio fraction of entries removed
     * @param bits bit width entries were stored at
     * @param bytes bytes the cache held at the end, measured by the engine
     * @param bytesUncompressed bytes the same tokens take uncompressed
     * @param decidedBy {@code request}, {@code default} or {@code controller}
     * @param predictedQuality the controller's predicted quality retention of the setting, or null when it did not
     *     predict one
     */
    public record KvReport(String method, double ratio, int bits, long bytes, long bytesUncompressed, String decidedBy,
            Double predictedQuality) {

        public KvReport(String method, double ratio, int bits, long bytes, long bytesUncompressed, String decidedBy) {
            this(method, ratio, bits, bytes, bytesUncompressed, decidedBy, null);
        }
    }

    /**
     * @param kept the prompt positions the cache kept per layer and KV head after prefill; null when the sequence
     *     never got a cache or its engine does not record them
     * @param decision the controller's decision for an {@code auto} request, with the candidates it scored; null when
     *     the request fixed its setting or no controller runs
     */
    public record KvInspection(KeptPositions kept, PolicyDecision decision) {}
}
