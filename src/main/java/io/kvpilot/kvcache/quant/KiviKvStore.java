package io.kvpilot.kvcache.quant;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.kvpilot.kvcache.KvBlockPool;

/**
 * KIVI: keys quantized per channel (a scale and zero point per channel and group of {@code G} tokens, since key
 * outliers sit in fixed channels), values per token (per group of {@code G} channels); asymmetric {@code b}-bit codes
 * packed {@code 8 / b} to a byte; scales and zero points fp16. The most recent {@code R .. R+G-1} tokens stay in a
 * full-precision window (fp16, as KIVI's) that is quantized {@code G} tokens at a time as decoding grows it.
 *
 * <p>Liu et al., "KIVI: A Tuning-Free Asymmetric 2bit Quantization for KV Cache", ICML 2024, arXiv:2402.02750.
 * {@link #keys}/{@link #values} dequantize inside the step into temporaries of the step; no fp32 copy is kept.
 */
public final class KiviKvStore extends QuantizedStore {

    private final KiviFormat format;
    private NDArray kq; // [K, Tq, D*b/8] uint8
    private NDArray kScale; // [K, Tq/G, 1, D] f16
    private NDArray kZero;
    private NDArray vq; // [K, Tq, D*b/8] uint8
    private NDArray vScale; // [K, Tq, D/G, 1] f16
    private NDArray vZero;
    private NDArray kRes; // [K, Tr, D] f16
    private NDArray vRes;

    KiviKvStore(KvBlockPool pool, NDManager manager, NDArray keys, NDArray values, NDArray mask, KiviFormat format) {
        super(pool, manager, mask);
        this.format = format;
        kRes = own(Scoped.run(manager, s -> keys.toType(DataType.FLOAT16, true), keys));
        vRes = own(Scoped.run(manager, s -> values.toType(DataType.FLOAT16, true), values));
        flushResidual();
    }

    /** Quantizes whole groups of the window's oldest tokens while more than {@code R} tokens would remain. */
    private void flushResidual() {
        int g = format.groupSize();
        long n = Math.max(0, (kRes.getShape().get(1) - format.residual()) / g * g);
        if (n == 0) {
            return;
        }
        NDArray[] k = quantize(kRes, n, true);
        NDArray[] v = quantize(vRes, n, false);
        kRes = swap(kRes, Scoped.run(manager, s -> kRes.get(":, " + n + ":").duplicate(), kRes));
        vRes = swap(vRes, Scoped.run(manager, s -> vRes.get(":, " + n + ":").duplicate(), vRes));
        kq = join(kq, k[0], 1);
        kScale = join(kScale, k[1], 1);
        kZero = join(kZero, k[2], 1);
        vq = join(vq, v[0], 1);
        vScale = join(vScale, v[1], 1);
        vZero = join(vZero, v[2], 1);
    }

    /** The first {@code n} tokens of {@code x [K, T, D]} → {packed codes, scales, zeros}, not yet adopted. */
    private NDArray[] quantize(NDArray x, long n, boolean perChannel) {
        int g = format.groupSize();
        int levels = (1 << format.bits()) - 1;
        Shape s = x.getShape();
        Shape flat = new Shape(s.get(0), n, s.get(2));
        Shape grouped = perChannel ? new Shape(s.get(0), n / g, g, s.get(2)) : new Shape(s.get(0), n, s.get(2) / g, g);
        int axis = perChannel ? 2 : 3;
        NDArray[] out = new NDArray[3];
        try (NDManager scope = manager.newSubManager()) {
            x.tempAttach(scope);
            NDArray xs = x.get(":, 0:" + n).toType(DataType.FLOAT32, false).reshape(grouped);
            NDArray min = xs.min(new int[] {axis}, true);
            NDArray zero = min.toType(DataType.FLOAT16, false);
            NDArray scale = xs.max(new int[] {axis}, true).sub(min).div((float) levels).maximum(1e-6f)
                    .toType(DataType.FLOAT16, false);
            // codes from the fp16-rounded scale and zero, so dequantization sees exactly what was quantized against
            NDArray codes = xs.sub(zero.toType(DataType.FLOAT32, false)).div(scale.toType(DataType.FLOAT32, false))
                    .round().clip(0, levels).reshape(flat);
            out[0] = Packing.pack(codes, format.bits());
            out[1] = scale;
            out[2] = zero;
            for (NDArray a : out) {
                a.attach(manager);
            }
        }
        return out;
    }

    /** Dequantized {@code [K, T, D]} fp32 of keys or values, built in the current scope. */
    private NDArray read(boolean keys) {
        NDArray res = (keys ? kRes : vRes).toType(DataType.FLOAT32, false);
        if (kq == null) {
            return res;
        }
        int g = format.groupSize();
        Shape ks = kScale.getShape();
        long heads = ks.get(0);
        long tq = kq.getShape().get(1);
        long d = ks.get(3);
        NDArray deq = keys
                ? Packing.unpack(kq, format.bits()).reshape(heads, tq / g, g, d)
                        .mul(kScale.toType(DataType.FLOAT32, false)).add(kZero.toType(DataType.FLOAT32, false))
                : Packing.unpack(vq, format.bits()).reshape(heads, tq, d / g, g)
                        .mul(vScale.toType(DataType.FLOAT32, false)).add(vZero.toType(DataType.FLOAT32, false));
        return deq.reshape(heads, tq, d).concat(res, 1);
    }

    private NDArray[] all() {
        return new NDArray[] {kq, kScale, kZero, vq, vScale, vZero, kRes, vRes};
    }

    @Override
    public NDArray keys(NDManager step) {
        return Scoped.run(step, s -> read(true), all());
    }

    @Override
    public NDArray values(NDManager step) {
        return Scoped.run(step, s -> read(false), all());
    }

    @Override
    public int length() {
        return (int) (kRes.getShape().get(1) + (kq == null ? 0 : kq.getShape().get(1)));
    }

    @Override
    public void append(NDArray keys, NDArray values) {
        kRes = join(kRes, Scoped.run(manager, s -> keys.toType(DataType.FLOAT16, true), keys), 1);
        vRes = join(vRes, Scoped.run(manager, s -> values.toType(DataType.FLOAT16, true), values), 1);
        extendMask(keys.getShape().get(1));
        if (kRes.getShape().get(1) >= format.residual() + format.groupSize()) {
            flushResidual();
        }
    }

    /**
     * Compaction of a quantized store: per-channel key groups span tokens, so the kept entries are dequantized,
     * selected and quantized again (one more rounding for entries that change group).
     */
    @Override
    public void retain(int[][] keep) {
        Selection sel = Selection.of(keep, length());
        try (NDManager scope = manager.newSubManager()) {
            NDArray k = keys(scope);
            NDArray v = values(scope);
            long d = k.getShape().get(2);
            NDArray nk = k.gather(sel.along1(scope, d), 1);
            NDArray nv = v.gather(sel.along1(scope, d), 1);
            for (NDArray a : all()) {
                pool.free(a);
            }
            kq = kScale = kZero = vq = vScale = vZero = null;
            kRes = own(Scoped.run(manager, s -> nk.toType(DataType.FLOAT16, true), nk));
            vRes = own(Scoped.run(manager, s -> nv.toType(DataType.FLOAT16, true), nv));
        }
        resetMask(sel, keep.length);
        flushResidual();
    }

    @Override
    protected NDArray[] held() {
        return all();
    }

    @Override
    protected void clear() {
        kq = kScale = kZero = vq = vScale = vZero = kRes = vRes = null;
    }
}
