package io.kvpilot.policy;

/**
 * A request's {@code "kv_compression": "auto"} (or {@code {"auto": {...}}}): the controller chooses, within what the
 * request allows.
 *
 * @param minQuality the quality floor in [0, 1], or null for the configured default
 * @param sloClass the latency class to serve it under, or null for the configured default
 * @param task a task hint for the predictor ({@code retrieval}, {@code continuation}, ...), or null
 */
public record AutoCompression(Double minQuality, String sloClass, String task) {

    public static final AutoCompression DEFAULT = new AutoCompression(null, null, null);

    public AutoCompression {
        if (minQuality != null && !(minQuality >= 0.0 && minQuality <= 1.0)) {
            throw new IllegalArgumentException("min_quality must be in [0, 1], got " + minQuality);
        }
    }
}
