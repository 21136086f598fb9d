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
        int w = (int) attn.getShape().get(1);
        int t = view.tokens();
        NDArray mean = attn.mean(new int[] {1}); // [kvH, T]
        // Average pool, stride 1, same padding with zeros (counts the padding, as torch's avg_pool1d does).
        int half = kernel / 2;
        NDArray padded = mean.getManager().zeros(new ai.djl.ndarray.types.Shape(view.kvHeads(), t + 2L * half));
        padded.set(new NDIndex(":, " + half + ":" + (half + t)), mean);
        NDArray pooled = padded.get(new NDIndex(":, 0:" + t));
        for (int i = 1; i < kernel; i++) {
            pooled = pooled.add(padded.get(new NDIndex(":, " + i + ":" + (i + t))));
        }
        pooled = pooled.div(kernel);
        pooled.set(new NDIndex(":, -" + Math.min(w, t) + ":"), Float.POSITIVE_INFINITY);
        return pooled;
    }

    @Override
    public boolean needsWindowAttention() {
        return true;
    }
}
