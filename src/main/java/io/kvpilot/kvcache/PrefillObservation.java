package io.kvpilot.kvcache;

import ai.djl.ndarray.NDArray;

/**
 * What a compressor sees after prefill besides the cache itself: for each layer, the softmax attention weights of the
 * last {@code window} prompt queries over the prompt's keys, {@code [heads, window, promptLength]} (query heads, so a
 * GQA model has {@code heads = kvHeads × group}). Rows are causal: a query attends only to keys at or before it.
 *
 * <p>With {@link KvCompressor#wantsAttentionSums()}, also the attention of <em>every</em> prompt query summed over
 * the queries, {@code [heads, promptLength]} per layer (query heads): entry {@code i} was seen by
 * {@code promptLength - i} queries.
 *
 * @param promptLength tokens of the prompt now in the cache
 * @param window query rows captured (0 when the compressor asked for none; {@link #attention} is then null)
 * @param attention per layer, or null
 * @param attentionSums per layer, or null
 */
public record PrefillObservation(int promptLength, int window, NDArray[] attention, NDArray[] attentionSums) {

    public PrefillObservation(int promptLength, int window, NDArray[] attention) {
        this(promptLength, window, attention, null);
    }

    public static PrefillObservation none(int promptLength) {
        return new PrefillObservation(promptLength, 0, null, null);
    }

    public NDArray attentionSums(int layer) {
        return attentionSums == null ? null : attentionSums[layer];
    }

    public NDArray attention(int layer) {
        return attention == null ? null : attention[layer];
    }
}
