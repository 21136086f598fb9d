package io.kvpilot.kvcache.press;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;

/**
 * What a method that scores with prefill attention (SnapKV, PyramidKV, TOVA, H2O) scores with while the sequence
 * decodes: the most recent {@code recentShare} of the budget is kept (the tokens being generated, and the end of the
 * prompt), the rest ranked by minus the key's L2 norm. During decode there is no observation window's attention to
 * read — kvpress's {@code DecodingPress} buffers the last steps' hidden states to rebuild one, which KVPilot's engine
 * does not keep — and a small key norm marks the keys that draw attention (Devoto et al., arXiv:2406.11430, the
 * KNorm method), so it stands in for the attention those methods would have measured. The recent window is H2O's
 * split (Zhang et al., arXiv:2306.14048).
 *
 * @param recentShare share of the budget reserved for the most recent entries
 */
public record DecodeScorer(double recentShare) implements Scorer {

    public DecodeScorer {
        if (!(recentShare >= 0 && recentShare <= 1)) {
            throw new IllegalArgumentException("recentShare must be in [0, 1], got " + recentShare);
        }
    }

    @Override
    public NDArray score(LayerView view, int keep) {
        NDArray scores = view.keys().norm(new int[] {2}).neg(); // [kvH, T]
        int recent = Math.min(view.tokens(), (int) Math.round(keep * recentShare));
        if (recent > 0) {
            scores.set(new NDIndex(":, -" + recent + ":"), Float.POSITIVE_INFINITY);
        }
        return scores;
    }
}
