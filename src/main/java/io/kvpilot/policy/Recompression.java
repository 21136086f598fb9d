package io.kvpilot.policy;

import io.kvpilot.kvcache.KvCompressionSpec;

/**
 * A running sequence the controller compresses further to make room.
 *
 * @param sequenceId the sequence
 * @param spec what its cache is compressed to (relative to every position it has fed, as at admission)
 * @param reservedBytes its new reservation, to replace the old one
 * @param predictedQuality predicted quality retention under {@code spec} (NaN in fallback)
 */
public record Recompression(String sequenceId, KvCompressionSpec spec, long reservedBytes, double predictedQuality) {}
