package io.kvpilot.kvcache.press;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;

/**
 * ChunkKV: every entry takes the mean score of its fixed-size chunk of consecutive positions, so selection keeps or
 * drops whole spans. A fact is several tokens (a five-digit key is two or three, cued by the words before it); keeping
 * only its best-scored token does not let the model copy it back.
 *
 * <p>Liu et al., "ChunkKV: Semantic-Preserving KV Cache Compression for Efficient Long-Context LLM Inference", 2025,
 * arXiv:2502.00299. As kvpress's {@code chunkkv_press.py}, which wraps any scorer press the same way. Entries the inner
 * scorer protects ({@code +Inf}) make their whole chunk protected.
 *
 * @param inner the scorer whose per-entry scores are pooled
 * @param chunk chunk length in entries
 */
public record ChunkScorer(Scorer inner, int chunk) implements Scorer {

    public ChunkScorer {
        if (chunk < 1) {
            throw new IllegalArgumentException("chunk must be >= 1, got " + chunk);
        }
    }

    @Override
    public NDArray score(LayerView view, int keep) {
        NDArray scores = inner.score(view, keep); // [kvH, T]
        int h = view.kvHeads();
        int t = view.tokens();
        int chunks = (t + chunk - 1) / chunk;
        int padded = chunks * chunk;
        NDArray sums = scores;
        if (padded > t) {
            NDArray grown = scores.getManager().zeros(new Shape(h, padded), scores.getDataType());
            grown.set(new NDIndex(":, 0:" + t), scores);
            sums = grown;
        }
        // the last chunk may be short: divide by how many real entries each chunk holds
        float[] counts = new float[chunks];
        for (int c = 0; c < chunks; c++) {
            counts[c] = Math.min(chunk, t - c * chunk);
        }
        NDArray means = sums.reshape(h, chunks, chunk).sum(new int[] {2})
                .div(scores.getManager().create(counts).toType(scores.getDataType(), false));
        return means.expandDims(2).repeat(2, chunk).reshape(h, padded).get(new NDIndex(":, 0:" + t));
    }

    @Override
    public Scorer forDecode() {
        Scorer inner = this.inner.forDecode();
        return inner == this.inner ? this : new ChunkScorer(inner, chunk);
    }

    @Override
    public boolean needsWindowAttention() {
        return inner.needsWindowAttention();
    }

    @Override
    public boolean usesAccumulatedAttention() {
        return inner.usesAccumulatedAttention();
    }
}
