package io.kvpilot.policy;

/**
 * What the controller knows of a request: at admission its lengths and hints; after prefill also its statistics.
 *
 * @param promptTokens prompt length in tokens
 * @param maxTokens the most tokens it may generate
 * @param taskHint the request's task hint if it gave one ({@code retrieval}, {@code continuation}, ...), else null
 * @param sloClass the latency class it is served under (e.g. {@code interactive})
 * @param minQuality the quality floor in [0, 1] the request (or the configured default) asks for
 * @param prefill its prefill statistics, or null before prefill
 */
public record RequestFeatures(
        int promptTokens, int maxTokens, String taskHint, String sloClass, double minQuality,
        PrefillStatistics prefill) {

    public RequestFeatures withPrefill(PrefillStatistics statistics) {
        return new RequestFeatures(promptTokens, maxTokens, taskHint, sloClass, minQuality, statistics);
    }
}
