package io.kvpilot.engine.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;

/**
 * The attention every prefill query pays each cache entry, summed over the queries, per layer {@code [H, n]} (query
 * heads): what H2O's heavy hitters are chosen by (kvpress's {@code ObservedAttentionPress}). A prompt prefilled in
 * several pieces adds each piece's sums to the entries it saw; later pieces also see entries the earlier did not.
 * Only passes on libtorch produce it (the Java pass keeps no attention matrix), so a sequence that asks for it
 * prefills there. Held on the sequence's cache manager and closed once the compression hook has read it.
 */
public final class AttentionSums implements AutoCloseable {

    private final NDManager owner;
    private final NDArray[] perLayer;

    public AttentionSums(NDManager owner, int layers) {
        this.owner = owner;
        this.perLayer = new NDArray[layers];
    }

    /** Adds one pass's column sums {@code [H, n]} (n ≥ the entries summed so far) to the layer's running sums. */
    public void add(int layer, NDArray sums) {
        NDArray prev = perLayer[layer];
        NDArray next = sums;
        if (prev != null) {
            long seen = prev.getShape().get(1);
            NDArray older = sums.get(new NDIndex(":, 0:" + seen)).add(prev);
            next = seen == sums.getShape().get(1) ? older
                    : NDArrays.concat(new NDList(older, sums.get(new NDIndex(":, " + seen + ":"))), 1);
        }
        next.attach(owner);
        perLayer[layer] = next;
        if (prev != null) {
            prev.close();
        }
    }

    /** Per layer {@code [H, n]}; valid until {@link #close}. */
    public NDArray[] perLayer() {
        return perLayer;
    }

    @Override
    public void close() {
        for (int l = 0; l < perLayer.length; l++) {
            if (perLayer[l] != null) {
                perLayer[l].close();
                perLayer[l] = null;
            }
        }
    }
}
