package io.kvpilot.policy;

import io.kvpilot.kvcache.KvCompressionSpec;
import java.util.List;

/**
 * The learned part of the controller: for a request and candidate compression settings, the quality each would
 * retain (1 = the request's output as uncompressed, 0 = nothing of it). Implementations are immutable and
 * thread-safe, allocate nothing per call beyond what the caller passes, and answer in microseconds.
 */
public interface QualityPredictor {

    /**
     * Fills {@code out[i]} with the predicted quality retention of {@code candidates.get(i)}, each in [0, 1].
     * {@code features.prefill()} may be null (admission), in which case the estimate uses lengths and hints only.
     */
    void predict(RequestFeatures features, List<KvCompressionSpec> candidates, double[] out);

    /** The artefact's version (e.g. {@code v1}) and checksum, as logged at start-up. */
    String describe();
}
