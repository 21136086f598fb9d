package io.kvpilot.serving;

/**
 * Token counts and the KV cache report of one finished request ({@code usage} and {@code usage.kv_cache} in the API).
 *
 * @param promptTokens tokens of the prompt
 * @param completionTokens tokens generated
 * @param kvCache what the sequence's cache held at its end
 */
public record Usage(int promptTokens, int completionTokens, KvReport kvCache) {

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
}
