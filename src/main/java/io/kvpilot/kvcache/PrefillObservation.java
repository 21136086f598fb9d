package io.kvpilot.kvcache;

import ai.djl.ndarray.NDArray;

/**
 * What a compressor sees after prefill besides the cache itself: for each layer, the softmax attention weights of the
 * last {@code window} prompt queries over the prompt's keys, {@code [heads, window, promptLength]} (query heads, so a
 * GQA model has {@code heads = kvHeads × group}). Rows are causal: a query attends only to keys at or before it.
 *
 * @param promptLength tokens of the prompt now in the cache
 * @param window query rows captured (0 when the compressor asked for none; {@link #attention} is then null)
 * @param attention per layer, or null
 */
public record PrefillObservation(int promptLength, int window, NDArray[] attention) {

    public static PrefillObservation none(int promptLength) {
        return new PrefillObservation(promptLength, 0, null);
    }

    public NDArray attention(int layer) {
        return attention == null ? null : attention[layer];
    }
}
