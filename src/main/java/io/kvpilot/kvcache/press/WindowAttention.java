package io.kvpilot.kvcache.press;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;

/**
 * The attention a trailing window of queries pays the cache, as SnapKV, TOVA and H2O score it: causal (window query
 * {@code j} sees entries up to its own position), softmaxed, and averaged over the query heads that share a KV head
 * (grouped-query attention).
 */
public final class WindowAttention {

    private WindowAttention() {}

    /**
     * @param queries the last {@code W} prompt positions' post-RoPE queries {@code [heads, W, D]}
     * @param keys the layer's post-RoPE keys {@code [kvHeads, T, D]}
     * @param scale the attention scale (1 when the engine folded it into the query weights)
     * @param owner manager of the result
     * @return {@code [kvHeads, W, T]}
     */
    public static NDArray compute(NDArray queries, NDArray keys, float scale, NDManager owner) {
        long heads = queries.getShape().get(0);
        long w = queries.getShape().get(1);
        long d = queries.getShape().get(2);
        long kvHeads = keys.getShape().get(0);
        long t = keys.getShape().get(1);
        long group = heads / kvHeads;
        try (NDManager scope = owner.newSubManager()) {
            queries.tempAttach(scope);
            keys.tempAttach(scope);
            NDArray q = queries.reshape(kvHeads, group * w, d); // query heads are grouped contiguously per KV head
            NDArray s = q.matMul(keys.transpose(0, 2, 1)).mul(scale); // [kvH, g*W, T]
            float[] mask = new float[(int) (w * t)];
            for (int j = 0; j < w; j++) {
                for (long i = t - w + j + 1; i < t; i++) {
                    mask[(int) (j * t + i)] = Float.NEGATIVE_INFINITY;
                }
            }
            NDArray m = scope.create(mask, new Shape(w, t));
            NDArray p = s.reshape(kvHeads, group, w, t).add(m).softmax(-1).mean(new int[] {1}); // [kvH, W, T]
            p.attach(owner);
            return p;
        }
    }

    /** Averages softmaxed attention {@code [heads, W, T]} onto {@code kvHeads} KV heads. */
    public static NDArray reduceToKvHeads(NDArray attention, int kvHeads) {
        Shape s = attention.getShape();
        return attention.reshape(kvHeads, s.get(0) / kvHeads, s.get(1), s.get(2)).mean(new int[] {1});
    }

    /** Averages attention sums {@code [heads, T]} onto {@code kvHeads} KV heads. */
    public static NDArray sumsToKvHeads(NDArray sums, int kvHeads) {
        Shape s = sums.getShape();
        return sums.reshape(kvHeads, s.get(0) / kvHeads, s.get(1)).mean(new int[] {1});
    }

    static NDArray lastRow(NDArray attention) {
        return attention.get(new NDIndex(":, -1, :"));
    }
}
