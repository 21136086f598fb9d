package io.kvpilot.kvcache.press;

import ai.djl.ndarray.NDArray;

/**
 * What a scorer sees of one layer of one sequence's cache, entries in position order.
 *
 * @param layer layer index, {@code 0 <= layer < numLayers}
 * @param numLayers layers of the model (PyramidKV's budget shrinks with depth)
 * @param keys post-RoPE keys {@code [kvHeads, T, headDim]}
 * @param values values {@code [kvHeads, T, headDim]}
 * @param windowAttention softmaxed attention of the trailing observation window's queries onto the cache, reduced onto
 *     the KV heads ({@link WindowAttention}), {@code [kvHeads, W, T]}; {@code null} when the method needs none
 * @param accumulatedAttention attention each entry has received so far, summed over queries (H2O),
 *     {@code [kvHeads, T]}; {@code null} when not tracked
 */
public record LayerView(
        int layer, int numLayers, NDArray keys, NDArray values, NDArray windowAttention, NDArray accumulatedAttention) {

    public LayerView {
        if (layer < 0 || layer >= numLayers) {
            throw new IllegalArgumentException("layer " + layer + " outside [0, " + numLayers + ")");
        }
        if (keys.getShape().dimension() != 3 || !keys.getShape().equals(values.getShape())) {
            throw new IllegalArgumentException(
                    "keys and values must both be [kvHeads, T, headDim], got " + keys.getShape() + " and "
                            + values.getShape());
        }
        long h = keys.getShape().get(0);
        long t = keys.getShape().get(1);
        if (windowAttention != null
                && (windowAttention.getShape().dimension() != 3
                        || windowAttention.getShape().get(0) != h
                        || windowAttention.getShape().get(2) != t)) {
            throw new IllegalArgumentException(
                    "windowAttention must be [" + h + ", W, " + t + "], got " + windowAttention.getShape());
        }
        if (accumulatedAttention != null
                && !accumulatedAttention.getShape().equals(new ai.djl.ndarray.types.Shape(h, t))) {
            throw new IllegalArgumentException(
                    "accumulatedAttention must be [" + h + ", " + t + "], got " + accumulatedAttention.getShape());
        }
    }

    /** A view with keys and values only (scorers that need no attention). */
    public static LayerView of(int layer, int numLayers, NDArray keys, NDArray values) {
        return new LayerView(layer, numLayers, keys, values, null, null);
    }

    public int kvHeads() {
        return (int) keys.getShape().get(0);
    }

    public int tokens() {
        return (int) keys.getShape().get(1);
    }

    public int headDim() {
        return (int) keys.getShape().get(2);
    }

    public NDArray requireWindowAttention(String method) {
        if (windowAttention == null) {
            throw new IllegalStateException(method + " needs the observation window's attention, none was given");
        }
        return windowAttention;
    }
}
