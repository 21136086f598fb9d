package io.kvpilot.kvcache;

import java.util.Objects;
import java.util.regex.Pattern;

/**
 * What one sequence's KV cache should be compressed to: a method (by its snake_case name), the fraction of cached
 * entries it removes (kvpress's {@code compression_ratio}), and the bit width entries are stored at.
 *
 * <p>Immutable and validated; per-sequence state never lives here.
 *
 * @param method snake_case method name ({@code none}, {@code streaming_llm}, {@code snapkv}, ...)
 * @param ratio fraction of entries removed, {@code 0 <= ratio < 1}
 * @param bits 16 (no quantization), 8, 4 or 2
 */
public record KvCompressionSpec(String method, double ratio, int bits) {

    private static final Pattern METHOD_NAME = Pattern.compile("[a-z][a-z0-9_]*");

    // after METHOD_NAME: static initialisers run in order, and the constructor uses it
    public static final KvCompressionSpec NONE = new KvCompressionSpec("none", 0.0, 16);

    public KvCompressionSpec {
        Objects.requireNonNull(method, "method");
        if (!METHOD_NAME.matcher(method).matches()) {
            throw new IllegalArgumentException("method must be a snake_case name, got '" + method + "'");
        }
        if (!(ratio >= 0.0 && ratio < 1.0)) {
            throw new IllegalArgumentException("ratio must be in [0, 1), got " + ratio);
        }
        if (bits != 16 && bits != 8 && bits != 4 && bits != 2) {
            throw new IllegalArgumentException("bits must be 16, 8, 4 or 2, got " + bits);
        }
        if (method.equals("none") && ratio != 0.0) {
            throw new IllegalArgumentException("method 'none' takes ratio 0, got " + ratio);
        }
    }

    /** True when the cache is stored exactly as the model computes it. */
    public boolean isIdentity() {
        return ratio == 0.0 && bits == 16;
    }

    /**
     * A rough size of {@code tokens} cached tokens under this spec (quantized formats add ~15 % for their scales),
     * for quick comparisons between candidates. Admission reserves the exact footprint instead
     * ({@code GenerationEngine#predictKv}, {@code KvFootprint}): block rounding, the dense prompt cache before it is
     * compressed, compaction copies and the growth between two decode-time compactions make a sequence hold more.
     */
    public long estimateBytes(long tokens, long uncompressedBytesPerToken) {
        double kept = Math.ceil(tokens * (1.0 - ratio));
        double perToken = uncompressedBytesPerToken * (bits / 16.0) * (bits < 16 ? 1.15 : 1.0);
        return (long) Math.ceil(kept * perToken);
    }
}
