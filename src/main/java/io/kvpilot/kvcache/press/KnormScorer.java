package io.kvpilot.kvcache.press;

import ai.djl.ndarray.NDArray;

/**
 * KNorm: keys with a small L2 norm draw more attention, so the score is {@code -||k||}.
 *
 * <p>Devoto et al., "A Simple and Effective L2 Norm-Based Strategy for KV Cache Compression", EMNLP 2024,
 * arXiv:2406.11430. As kvpress's {@code knorm_press.py}, whose logic is this one line.
 */
public record KnormScorer() implements Scorer {

    @Override
    public NDArray score(LayerView view, int keep) {
        return view.keys().norm(new int[] {2}).neg();
    }
}
