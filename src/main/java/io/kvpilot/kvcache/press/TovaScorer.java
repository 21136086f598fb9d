package io.kvpilot.kvcache.press;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;

/**
 * TOVA: keep the entries the last query attends to most, averaged over every query head, so all KV heads keep the
 * same positions; the last entry is always kept.
 *
 * <p>Oren et al., "Transformers are Multi-State RNNs", EMNLP 2024, arXiv:2401.06104 (Token Omission Via Attention).
 * The head average is the paper's (and kvpress's {@code TOVAPress}); selecting per KV head instead kept up to 30
 * points less passkey accuracy than the reference at ratio 0.75.
 */
public record TovaScorer() implements Scorer {

    @Override
    public NDArray score(LayerView view, int keep) {
        NDArray attn = view.requireWindowAttention("tova"); // [kvH, W, T], already averaged over each KV head's group
        NDArray last = attn.get(new NDIndex(":, -1, :")).mean(new int[] {0}, true); // [1, T]: over all query heads
        NDArray scores = last.repeat(0, view.kvHeads()); // [kvH, T]
        scores.set(new NDIndex(":, -1:"), Float.POSITIVE_INFINITY);
        return scores;
    }

    @Override
    public boolean needsWindowAttention() {
        return true;
    }
}
