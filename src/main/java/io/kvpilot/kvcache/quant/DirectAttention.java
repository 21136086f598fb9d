package io.kvpilot.kvcache.quant;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

/**
 * A store that computes decode attention on its own stored form (int8 blocks with scales applied to scores and
 * probabilities; low-rank key coefficients), cheaper than rebuilding fp32 K/V through
 * {@link io.kvpilot.kvcache.KvLayerStore#keys}. An engine may use it when a store offers it.
 */
public interface DirectAttention {

    /**
     * {@code softmax(q K^T + mask) V} over every held entry.
     *
     * @param q scaled queries grouped by KV head {@code [K, G, D]}
     * @return {@code [K, G, D]} owned by {@code step}
     */
    NDArray attend(NDArray q, NDManager step);
}
