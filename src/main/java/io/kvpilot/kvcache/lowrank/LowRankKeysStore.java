package io.kvpilot.kvcache.lowrank;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.kvpilot.kvcache.KvBlockPool;
import io.kvpilot.kvcache.quant.DirectAttention;
import io.kvpilot.kvcache.quant.QuantizedStore;
import io.kvpilot.kvcache.quant.Scoped;

/**
 * Keys held as rank-{@code r} coefficients {@code K U} on an orthonormal basis {@code U [K, D, r]}; values dense fp32.
 * {@link #attend} scores with {@code (q U) c^T}, reading {@code r / D} of the key bytes; {@link #keys} rebuilds the
 * projection {@code c U^T} for this step only.
 */
public final class LowRankKeysStore extends QuantizedStore implements DirectAttention {

    private NDArray basis; // [K, D, r]
    private NDArray coeff; // [K, n, r]
    private NDArray vals; // [K, n, D]

    LowRankKeysStore(KvBlockPool pool, NDManager manager, NDArray basis, NDArray keys, NDArray values, NDArray mask) {
        super(pool, manager, mask);
        this.basis = own(basis);
        this.coeff = own(Scoped.run(manager, s -> keys.matMul(basis), keys, basis));
        this.vals = own(Scoped.run(manager, s -> values.duplicate(), values));
    }

    @Override
    public int length() {
        return (int) coeff.getShape().get(1);
    }

    @Override
    public void append(NDArray keys, NDArray values) {
        coeff = join(coeff, Scoped.run(manager, s -> keys.matMul(basis), keys, basis), 1);
        vals = join(vals, Scoped.run(manager, s -> values.duplicate(), values), 1);
        extendMask(keys.getShape().get(1));
    }

    @Override
    public NDArray keys(NDManager step) {
        return Scoped.run(step, s -> coeff.matMul(basis.transpose(0, 2, 1)), coeff, basis);
    }

    @Override
    public NDArray values(NDManager step) {
        return vals.get(step, new ai.djl.ndarray.index.NDIndex());
    }

    @Override
    public NDArray attend(NDArray q, NDManager step) {
        return Scoped.run(step, s -> {
            NDArray scores = q.matMul(basis).matMul(coeff.transpose(0, 2, 1)); // [K, G, n]
            if (mask != null) {
                scores = scores.add(mask);
            }
            return scores.softmax(-1).matMul(vals);
        }, q, basis, coeff, vals, mask);
    }

    @Override
    public void retain(int[][] keep) {
        Selection sel = Selection.of(keep, length());
        coeff = gather1(coeff, sel);
        vals = gather1(vals, sel);
        resetMask(sel, keep.length);
    }

    @Override
    protected NDArray[] held() {
        return new NDArray[] {basis, coeff, vals};
    }

    @Override
    protected void clear() {
        basis = coeff = vals = null;
    }
}
