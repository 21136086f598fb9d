package io.kvpilot.kvcache.press;

import ai.djl.ndarray.NDArray;

/**
 * KeyDiff: keep the keys least like the layer's average key direction, per KV head. Repeated or predictable context
 * produces keys that point the same way; a key unlike the rest marks content no other entry stands in for. Needs no
 * attention weights, so it is query-agnostic and cheap.
 *
 * <p>Park et al., "KeyDiff: Key Similarity-Based KV Cache Eviction for Long-Context LLM Inference in
 * Resource-Constrained Environments", 2025, arXiv:2504.15364. As kvpress's {@code keydiff_press.py}: the anchor is the
 * mean of the L2-normalised keys and the score is minus each key's cosine similarity to it.
 */
public record KeyDiffScorer() implements Scorer {

    @Override
    public NDArray score(LayerView view, int keep) {
        NDArray keys = view.keys(); // [kvH, T, D]
        NDArray unit = keys.div(keys.norm(new int[] {2}, true).maximum(1e-12f));
        NDArray anchor = unit.mean(new int[] {1}, true); // [kvH, 1, D]
        NDArray anchorUnit = anchor.div(anchor.norm(new int[] {2}, true).maximum(1e-12f));
        return unit.mul(anchorUnit).sum(new int[] {2}).neg(); // [kvH, T]
    }
}
