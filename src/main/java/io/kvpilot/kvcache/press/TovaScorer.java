package io.kvpilot.kvcache.press;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;

/**
 * TOVA: keep the entries the last query attends to most, per KV head; the last entry is always kept.
 *
 * <p>Oren et al., "Transformers are Multi-State RNNs", EMNLP 2024, arXiv:2401.06104 (Token Omission Via Attention).
 */
public record TovaScorer() implements Scorer {

    @Override
    public NDArray score(LayerView view, int keep) {
        NDArray attn = view.requireWindowAttention("tova"); // [kvH, W, T]
        NDArray last = attn.get(new NDIndex(":, -1, :")).duplicate(); // [kvH, T]
        last.set(new NDIndex(":, -1:"), Float.POSITIVE_INFINITY);
        return last;
    }

    @Override
    public boolean needsWindowAttention() {
        return true;
    }
}
