package io.kvpilot.kvcache.lowrank;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.kvpilot.kvcache.KvBlockPool;
import io.kvpilot.kvcache.quant.DirectAttention;
import io.kvpilot.kvcache.quant.InPlaceKvStore;
import io.kvpilot.kvcache.quant.QuantizedStore;
import io.kvpilot.kvcache.quant.Scoped;
import java.nio.ByteBuffer;

/**
 * Keys held as rank-{@code r} coefficients {@code K U} on an orthonormal basis {@code U [K, D, r]}; values dense fp32.
 * Coefficients {@code [K, cap, r]} and values {@code [K, cap, D]} sit in capacity buffers that grow geometrically
 * ({@link QuantizedStore#grownCapacity}); an append projects its keys onto the basis in Java straight into the next
 * slots, whichever engine path made them, so both paths read the same bytes.
 *
 * <p>{@link #views()}, fp32: the basis {@code [K, D, r]}, coefficients {@code [K, cap, r]} and values
 * {@code [K, cap, D]}. Readers: the Java forward pass scores {@code (q U)·c} per entry from the views; libtorch
 * attends on the coefficients through {@link #attend}, reading {@code r / D} of the key bytes; {@link #keys} rebuilds
 * the projection {@code c U^T} for this step only.
 */
public final class LowRankKeysStore extends QuantizedStore implements DirectAttention, InPlaceKvStore {

    private final int rank;
    private final float[] basisRows; // [K, D, r], the basis as the Java appends project with it
    private NDArray basis; // [K, D, r]
    private NDArray coeff; // [K, cap, r]
    private NDArray vals; // [K, cap, D]
    private int length;

    LowRankKeysStore(KvBlockPool pool, NDManager manager, NDArray basis, NDArray keys, NDArray values, NDArray mask) {
        super(pool, manager, keys, mask, KvBlockPool.BLOCK_TOKENS);
        rank = Math.toIntExact(basis.getShape().get(2));
        int n = Math.toIntExact(keys.getShape().get(1));
        this.basis = own(basis);
        basisRows = basis.toFloatArray();
        int capacity = KvBlockPool.roundUpToBlocks(n);
        replacedBuffers(capacity);
        coeff = allocate(new Shape(heads, capacity, rank), DataType.FLOAT32);
        vals = allocate(new Shape(heads, capacity, dim), DataType.FLOAT32);
        float[] c;
        try (NDArray projected = Scoped.run(manager, m -> keys.matMul(basis), keys, basis)) { // [K, n, r], batched
            c = projected.toFloatArray();
        }
        float[] v = values.toFloatArray();
        java.nio.FloatBuffer coefficients = views()[1].asFloatBuffer();
        java.nio.FloatBuffer valueRows = views()[2].asFloatBuffer();
        for (int kh = 0; kh < heads; kh++) {
            coefficients.put(kh * capacity * rank, c, kh * n * rank, n * rank);
            valueRows.put(kh * capacity * dim, v, kh * n * dim, n * dim);
        }
        length = n;
    }

    @Override
    public int length() {
        return length;
    }

    /** Coefficients per key. */
    public int rank() {
        return rank;
    }

    @Override
    public void reserve(int entries) {
        ensureCapacity(length + entries);
    }

    @Override
    protected void regrowTo(int grown) {
        coeff = regrow(coeff, new Shape(heads, grown, rank), length);
        vals = regrow(vals, new Shape(heads, grown, dim), length);
    }

    @Override
    public void append(NDArray keys, NDArray values) {
        int t = Math.toIntExact(keys.getShape().get(1));
        float[] k = keys.toFloatArray(); // [K, t, D]
        float[] v = values.toFloatArray();
        ensureCapacity(length + t);
        for (int i = 0; i < t; i++) {
            put(k, i * dim, t * dim, v, i * dim, t * dim, length + i);
        }
        length += t;
        extendMask(t);
    }

    @Override
    public void appendRows(float[] rows, int from, int rowStride, int keysAt, int valuesAt, int count) {
        ensureCapacity(length + count);
        for (int i = 0; i < count; i++) {
            int row = from + i * rowStride;
            put(rows, row + keysAt, dim, rows, row + valuesAt, dim, length + i);
        }
        length += count;
        extendMask(count);
    }

    /** Slot {@code j} of every head: head {@code kh}'s key projected from {@code keys[kAt + kh·kStride]}, its value. */
    private void put(float[] keys, int kAt, int kStride, float[] values, int vAt, int vStride, int j) {
        ByteBuffer[] b = views();
        for (int kh = 0; kh < heads; kh++) {
            int slot = kh * capacity() + j;
            int key = kAt + kh * kStride;
            int u = kh * dim * rank;
            for (int r = 0; r < rank; r++) {
                float sum = 0;
                for (int i = 0; i < dim; i++) {
                    sum += keys[key + i] * basisRows[u + i * rank + r];
                }
                b[1].putFloat((slot * rank + r) * Float.BYTES, sum);
            }
            for (int i = 0; i < dim; i++) {
                b[2].putFloat((slot * dim + i) * Float.BYTES, values[vAt + kh * vStride + i]);
            }
        }
    }

    private NDIndex heldSlots() {
        return new NDIndex().addAllDim().addSliceDim(0, length);
    }

    @Override
    public NDArray keys(NDManager step) {
        NDIndex held = heldSlots();
        return Scoped.run(step, s -> coeff.get(held).matMul(basis.transpose(0, 2, 1)), coeff, basis);
    }

    @Override
    public NDArray values(NDManager step) {
        return vals.get(step, heldSlots());
    }

    @Override
    public NDArray attend(NDArray q, NDManager step) {
        NDIndex held = heldSlots();
        return Scoped.run(step, s -> {
            NDArray scores = q.matMul(basis).matMul(coeff.get(held).transpose(0, 2, 1)); // [K, G, n]
            if (mask != null) {
                scores = scores.add(mask);
            }
            return scores.softmax(-1).matMul(vals.get(held));
        }, q, basis, coeff, vals, mask);
    }

    /** Keeps the selected entries of each head, tensor by tensor: each copy exists before its original is freed. */
    @Override
    public void retain(int[][] keep) {
        Selection sel = Selection.of(keep, length);
        int newCapacity = KvBlockPool.roundUpToBlocks(sel.kept());
        coeff = gatherRows(coeff, capacity(), sel, new Shape(heads, newCapacity, rank));
        vals = gatherRows(vals, capacity(), sel, new Shape(heads, newCapacity, dim));
        replacedBuffers(newCapacity);
        length = sel.kept();
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
