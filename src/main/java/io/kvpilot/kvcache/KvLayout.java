package io.kvpilot.kvcache;

/**
 * The shape of one model's KV cache.
 *
 * @param layers transformer layers
 * @param kvHeads key/value heads per layer
 * @param headDim dimension of one head
 * @param bytesPerElement bytes of one uncompressed element (4: the cache stores fp32 on CPU)
 */
public record KvLayout(int layers, int kvHeads, int headDim, int bytesPerElement) {

    public KvLayout {
        if (layers < 1 || kvHeads < 1 || headDim < 1 || bytesPerElement < 1) {
            throw new IllegalArgumentException("bad KV layout " + layers + "/" + kvHeads + "/" + headDim);
        }
    }

    /** Bytes one token's K and V take in one layer, uncompressed. */
    public long bytesPerTokenPerLayer() {
        return 2L * kvHeads * headDim * bytesPerElement;
    }

    /** Bytes one token's K and V take over all layers, uncompressed. */
    public long bytesPerToken() {
        return bytesPerTokenPerLayer() * layers;
    }
}
