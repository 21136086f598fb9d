package io.kvpilot.kvcache.quant;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.kvpilot.kvcache.KvBlockPool;

/**
 * int8 keys and values with one symmetric fp32 scale per token and head ({@code |error| <= scale / 2}). Attention
 * never needs fp32 keys: {@link #attend} casts the int8 block to fp32 inside the step and applies the per-token scales
 * to the scores (keys) and to the probabilities (values), which runs at about fp32 speed (docs/djl-notes.md, "int8 K/V").
 * {@link #keys}/{@link #values} dequantize for this step only, for an engine that does its own attention.
 */
public final class Int8KvStore extends QuantizedStore implements DirectAttention {

    private NDArray kq; // [K, n, D] int8
    private NDArray ks; // [K, n, 1] f32
    private NDArray vq;
    private NDArray vs;

    /** Quantizes {@code keys}/{@code values} {@code [K, n, D]} (fp32, left to the caller). */
    public Int8KvStore(KvBlockPool pool, NDManager manager, NDArray keys, NDArray values, NDArray mask) {
        super(pool, manager, mask);
        NDArray[] k = quantize(keys, manager);
        NDArray[] v = quantize(values, manager);
        kq = own(k[0]);
        ks = own(k[1]);
        vq = own(v[0]);
        vs = own(v[1]);
    }

    /** {@code x [K, n, D]} → {int8 codes [K, n, D], scales [K, n, 1]}, in {@code owner}. */
    public static NDArray[] quantize(NDArray x, NDManager owner) {
        NDArray scale = Scoped.run(owner, s -> x.abs().max(new int[] {2}, true).div(127f).maximum(1e-12f), x);
        NDArray codes = Scoped.run(owner, s -> x.div(scale).round().clip(-127, 127).toType(DataType.INT8, false),
                x, scale);
        return new NDArray[] {codes, scale};
    }

    @Override
    public int length() {
        return (int) kq.getShape().get(1);
    }

    @Override
    public void append(NDArray keys, NDArray values) {
        NDArray[] k = quantize(keys, manager);
        NDArray[] v = quantize(values, manager);
        kq = join(kq, k[0], 1);
        ks = join(ks, k[1], 1);
        vq = join(vq, v[0], 1);
        vs = join(vs, v[1], 1);
        extendMask(keys.getShape().get(1));
    }

    @Override
    public NDArray keys(NDManager step) {
        return Scoped.run(step, s -> kq.toType(DataType.FLOAT32, false).mul(ks), kq, ks);
    }

    @Override
    public NDArray values(NDManager step) {
        return Scoped.run(step, s -> vq.toType(DataType.FLOAT32, false).mul(vs), vq, vs);
    }

    @Override
    public NDArray attend(NDArray q, NDManager step) {
        return Scoped.run(step, s -> {
            NDArray scores = q.matMul(kq.toType(DataType.FLOAT32, false).transpose(0, 2, 1))
                    .mul(ks.transpose(0, 2, 1)); // [K, G, n]
            if (mask != null) {
                scores = scores.add(mask);
            }
            return scores.softmax(-1).mul(vs.transpose(0, 2, 1)).matMul(vq.toType(DataType.FLOAT32, false));
        }, q, kq, ks, vq, vs, mask);
    }

    @Override
    public void retain(int[][] keep) {
        Selection sel = Selection.of(keep, length());
        kq = gather1(kq, sel);
        ks = gather1(ks, sel);
        vq = gather1(vq, sel);
        vs = gather1(vs, sel);
        resetMask(sel, keep.length);
    }

    @Override
    protected NDArray[] held() {
        return new NDArray[] {kq, ks, vq, vs};
    }

    @Override
    protected void clear() {
        kq = ks = vq = vs = null;
    }
}
