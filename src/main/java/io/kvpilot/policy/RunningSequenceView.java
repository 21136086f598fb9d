package io.kvpilot.policy;

import io.kvpilot.kvcache.KvCompressionSpec;

/**
 * A running sequence as {@link CompressionPolicy#reclaim} sees it. Only sequences whose setting the controller chose
 * may be recompressed: a setting the request fixed (or {@code "off"}) is honoured to the end.
 *
 * @param id the sequence
 * @param features its request features (with prefill statistics if known)
 * @param generatedTokens tokens generated so far
 * @param spec its current setting
 * @param reservedBytes what admission reserved for it
 * @param controllerChosen whether the controller chose {@code spec}
 */
public record RunningSequenceView(String id, RequestFeatures features, int generatedTokens, KvCompressionSpec spec,
        long reservedBytes, boolean controllerChosen) {}
