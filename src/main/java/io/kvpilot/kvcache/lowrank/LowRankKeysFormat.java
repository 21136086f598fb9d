package io.kvpilot.kvcache.lowrank;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.kvpilot.kvcache.quant.KvFormat;
import io.kvpilot.kvcache.KvBlockPool;
import io.kvpilot.kvcache.KvLayerStore;
import io.kvpilot.kvcache.quant.Scoped;

/**
 * Low-rank keys: the basis of each KV head is the top-{@code r} eigenvectors of the key covariance {@code K^T K} of
 * the layer's own (post-RoPE) keys, computed when the cache is compressed; the cache then stores {@code K U}.
 * Keys of LLMs are strongly low-rank (Singhania et al., "Loki: Low-rank Keys for Efficient Sparse Attention",
 * NeurIPS 2024, arXiv:2406.02542; Saxena et al., "Eigen Attention", arXiv:2408.05646).
 *
 * @param keptDimsShare share of the head dimension kept as coefficients, {@code (0, 1]}; {@code 1 - ratio} in a spec
 */
public record LowRankKeysFormat(double keptDimsShare) implements KvFormat {

    public LowRankKeysFormat {
        if (!(keptDimsShare > 0 && keptDimsShare <= 1)) {
            throw new IllegalArgumentException("keptDimsShare must be in (0, 1], got " + keptDimsShare);
        }
    }

    public int rank(int headDim) {
        return Math.max(1, (int) Math.round(headDim * keptDimsShare));
    }

    @Override
    public KvLayerStore build(KvBlockPool pool, NDManager owner, NDArray keys, NDArray values, NDArray mask) {
        int h = (int) keys.getShape().get(0);
        int d = (int) keys.getShape().get(2);
        int r = rank(d);
        float[] cov = Scoped.run(owner, s -> keys.transpose(0, 2, 1).matMul(keys), keys).toFloatArray();
        float[] basis = new float[h * d * r];
        for (int head = 0; head < h; head++) {
            double[][] c = new double[d][d];
            for (int i = 0; i < d; i++) {
                for (int j = 0; j < d; j++) {
                    c[i][j] = cov[head * d * d + i * d + j];
                }
            }
            double[][] vecs = Eigen.topEigenvectors(c, r); // [r][d]
            for (int i = 0; i < d; i++) {
                for (int k = 0; k < r; k++) {
                    basis[head * d * r + i * r + k] = (float) vecs[k][i];
                }
            }
        }
        NDArray u = owner.create(basis, new Shape(h, d, r));
        return new LowRankKeysStore(pool, owner, u, keys, values, mask);
    }
}
