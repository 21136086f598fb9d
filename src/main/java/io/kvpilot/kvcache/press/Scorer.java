package io.kvpilot.kvcache.press;

import ai.djl.ndarray.NDArray;

/**
 * Scores the entries of one layer's cache; the higher the score, the more an entry is worth keeping. A scorer only
 * scores: {@link Press} selects, {@link Compaction} frees the memory. {@code +Infinity} marks an entry kept before any
 * other (attention sinks, the observation window), within the budget: a layer never keeps more than it.
 *
 * <p>Implementations are immutable; per-sequence state (accumulated attention) arrives through the {@link LayerView}.
 */
public interface Scorer {

    /**
     * @param view the layer's cache
     * @param keep entries per head the budget allows for this layer (scorers that reserve a recent window size it from
     *     this)
     * @return scores {@code [kvHeads, T]}
     */
    NDArray score(LayerView view, int keep);

    /** Whether {@link LayerView#windowAttention()} must be filled. */
    default boolean needsWindowAttention() {
        return false;
    }

    /**
     * The scorer that bounds the cache while the sequence decodes (every {@code decode-compression-interval} steps):
     * this one when it needs nothing but the cache, a {@link DecodeScorer} when it reads prefill attention, which
     * decode steps do not produce.
     */
    default Scorer forDecode() {
        return needsWindowAttention() || usesAccumulatedAttention() ? new DecodeScorer(0.5) : this;
    }

    /** Whether {@link LayerView#accumulatedAttention()} is used when present. */
    default boolean usesAccumulatedAttention() {
        return false;
    }
}
