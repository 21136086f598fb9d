package io.kvpilot.kvcache.press;

import java.util.Arrays;

/**
 * AdaKV's head-wise budgets: the layer's total budget goes to the highest scores across all heads, so heads whose
 * attention is concentrated give entries to heads whose attention is spread; each head first gets a safeguard share
 * {@code alpha * keep}. Works with any scorer.
 *
 * <p>Feng et al., "Ada-KV: Optimizing KV Cache Eviction by Adaptive Budget Allocation for Efficient LLM Inference",
 * arXiv:2407.11550 (safeguard {@code alpha = 0.2} as in its reference code).
 *
 * @param alpha share of the uniform per-head budget every head keeps at least, in [0, 1]
 */
public record AdaKvHeads(double alpha) implements HeadAllocation {

    public AdaKvHeads {
        if (!(alpha >= 0 && alpha <= 1)) {
            throw new IllegalArgumentException("alpha must be in [0, 1], got " + alpha);
        }
    }

    @Override
    public int[][] select(float[][] scores, int keep) {
        int heads = scores.length;
        int t = scores[0].length;
        int floor = (int) Math.ceil(alpha * keep);
        boolean[][] kept = new boolean[heads][t];
        int left = heads * keep;
        for (int h = 0; h < heads; h++) {
            for (int i : TopK.indices(scores[h], floor)) {
                kept[h][i] = true;
                left--;
            }
        }
        // The rest of the layer's budget by global score; flattened index = h * t + i.
        float[] flat = new float[heads * t];
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < t; i++) {
                flat[h * t + i] = kept[h][i] ? Float.NEGATIVE_INFINITY : scores[h][i];
            }
        }
        if (left > 0) {
            for (int f : TopK.indices(flat, left)) {
                if (flat[f] != Float.NEGATIVE_INFINITY) {
                    kept[f / t][f % t] = true;
                }
            }
        }
        int[][] out = new int[heads][];
        for (int h = 0; h < heads; h++) {
            int[] idx = new int[t];
            int n = 0;
            for (int i = 0; i < t; i++) {
                if (kept[h][i]) {
                    idx[n++] = i;
                }
            }
            out[h] = Arrays.copyOf(idx, Math.max(n, 0));
        }
        return out;
    }
}
