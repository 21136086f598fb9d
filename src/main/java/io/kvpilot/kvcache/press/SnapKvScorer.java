package io.kvpilot.kvcache.press;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;

/**
 * SnapKV: the attention the trailing observation window pays each entry, averaged over the window's queries and
 * smoothed with a 1-D average pool, so that neighbours of important tokens survive with them. The window itself is
 * always kept.
 *
 * <p>Li et al., "SnapKV: LLM Knows What You are Looking for Before Generation", NeurIPS 2024, arXiv:2404.14469.
 *
 * @param kernel odd width of the average-pooling kernel (the paper uses 5 or 7)
 */
public record SnapKvScorer(int kernel) implements Scorer {

    public SnapKvScorer {
        if (kernel < 1 || kernel % 2 == 0) {
            throw new IllegalArgumentException("kernel must be odd and >= 1, got " + kernel);
        }
    }

    @Override
    public NDArray score(LayerView view, int keep) {
        NDArray attn = view.requireWindowAttention("snapkv"); // [kvH, W, T]
        int t = view.tokens();
        int w = Math.min((int) attn.getShape().get(1), t);
        int n = t - w; // entries before the window: the only ones scored (the window is always kept)
        NDArray mean = attn.mean(new int[] {1}); // [kvH, T]
        // Average pool over those n entries alone, stride 1, zero padding counted (torch's avg_pool1d, as SnapKV's
        // reference pools): an entry next to the window is not lifted by the window's own attention.
        int half = kernel / 2;
        NDArray padded = mean.getManager().zeros(new ai.djl.ndarray.types.Shape(view.kvHeads(), n + 2L * half));
        if (n > 0) {
            padded.set(new NDIndex(":, " + half + ":" + (half + n)), mean.get(new NDIndex(":, 0:" + n)));
        }
        NDArray pooled = padded.get(new NDIndex(":, 0:" + n));
        for (int i = 1; i < kernel; i++) {
            pooled = pooled.add(padded.get(new NDIndex(":, " + i + ":" + (i + n))));
        }
        pooled = pooled.div(kernel);
        NDArray window = mean.getManager().full(new ai.djl.ndarray.types.Shape(view.kvHeads(), w), Float.POSITIVE_INFINITY);
        return n == 0 ? window : pooled.concat(window, 1); // [kvH, T]
    }

    @Override
    public boolean needsWindowAttention() {
        return true;
    }
}
