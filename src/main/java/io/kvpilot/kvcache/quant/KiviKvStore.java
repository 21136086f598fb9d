package io.kvpilot.kvcache.quant;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.kvpilot.kvcache.KvBlockPool;
import java.nio.ByteBuffer;

/**
 * KIVI: keys quantized per channel (a scale and zero point per channel and group of {@code G} tokens, since key
 * outliers sit in fixed channels), values per token (per group of {@code G} channels); asymmetric {@code b}-bit codes
 * packed {@code 8 / b} to a byte (lowest code in the lowest bits); scales and zero points fp16. The most recent
 * {@code R .. R+G-1} tokens stay in a full-precision window (fp16, as KIVI's) that is quantized {@code G} tokens at a
 * time as decoding grows it.
 *
 * <p>Liu et al., "KIVI: A Tuning-Free Asymmetric 2bit Quantization for KV Cache", ICML 2024, arXiv:2402.02750.
 *
 * <p>Storage is capacity-buffered: the quantized part in tensors of {@code capacity} tokens per head (a whole number
 * of groups, grown geometrically by {@link QuantizedStore#grownCapacity}), the window in two fixed {@code [K, R+G, D]}
 * fp16 tensors. Appends write the window in place and quantize its oldest group into the next quantized slots when
 * it fills, all in Java, whichever engine path made the rows; nothing is concatenated. The Java forward pass reads
 * the packed bytes through {@link #views()}: K codes {@code [K, cap, D·b/8]}, K scales and zeros {@code [K, cap/G, D]}
 * fp16, V codes, V scales and zeros {@code [K, cap, D/G]} fp16, then the window's K and V {@code [K, R+G, D]} fp16
 * (head {@code h}'s rows of the window from {@code h·(R+G)}); {@link #keys}/{@link #values} dequantize for this step
 * only.
 */
public final class KiviKvStore extends QuantizedStore implements InPlaceKvStore {

    private final KiviFormat format;
    private final int packed; // bytes per token row: D·b/8
    private final int window; // R + G: the window's capacity
    private NDArray kq; // [K, cap, D·b/8] uint8
    private NDArray kScale; // [K, cap/G, D] f16
    private NDArray kZero;
    private NDArray vq; // [K, cap, D·b/8] uint8
    private NDArray vScale; // [K, cap, D/G] f16
    private NDArray vZero;
    private NDArray kRes; // [K, R+G, D] f16, the first `residual` rows held
    private NDArray vRes;
    private int quantized;
    private int residual;
    private final float[] group; // scratch: one group's G×D values

    KiviKvStore(KvBlockPool pool, NDManager manager, NDArray keys, NDArray values, NDArray mask, KiviFormat format) {
        super(pool, manager, keys, mask, format.groupSize());
        this.format = format;
        packed = dim * format.bits() / 8;
        window = format.residual() + format.groupSize();
        group = new float[format.groupSize() * dim];
        int n = Math.toIntExact(keys.getShape().get(1));
        kRes = allocate(new Shape(heads, window, dim), DataType.FLOAT16);
        vRes = allocate(new Shape(heads, window, dim), DataType.FLOAT16);
        allocateQuantized(roundUpToGroups(quantizedAt(format, n)));
        appendHeadMajor(keys.toFloatArray(), values.toFloatArray(), n);
    }

    /** Tokens held quantized once a store holds {@code entries}: whole groups, leaving R..R+G-1 in the window. */
    public static int quantizedAt(KiviFormat format, int entries) {
        int over = entries - format.residual();
        return over < format.groupSize() ? 0 : over / format.groupSize() * format.groupSize();
    }

    private int roundUpToGroups(int tokens) {
        int g = format.groupSize();
        return Math.max(g, (tokens + g - 1) / g * g);
    }

    private void allocateQuantized(int cap) {
        replacedBuffers(cap);
        int g = format.groupSize();
        kq = allocate(new Shape(heads, cap, packed), DataType.UINT8);
        kScale = allocate(new Shape(heads, cap / g, dim), DataType.FLOAT16);
        kZero = allocate(new Shape(heads, cap / g, dim), DataType.FLOAT16);
        vq = allocate(new Shape(heads, cap, packed), DataType.UINT8);
        vScale = allocate(new Shape(heads, cap, dim / g), DataType.FLOAT16);
        vZero = allocate(new Shape(heads, cap, dim / g), DataType.FLOAT16);
    }

    public KiviFormat format() {
        return format;
    }

    /** Tokens per head held quantized: entries {@code [0, quantized)}; the window holds the rest, in order. */
    public int quantized() {
        return quantized;
    }

    @Override
    public int length() {
        return quantized + residual;
    }

    @Override
    public void reserve(int entries) {
        ensureCapacity(quantizedAt(format, length() + entries));
    }

    @Override
    protected void regrowTo(int grown) {
        int g = format.groupSize();
        kq = regrow(kq, new Shape(heads, grown, packed), quantized);
        kScale = regrow(kScale, new Shape(heads, grown / g, dim), quantized / g);
        kZero = regrow(kZero, new Shape(heads, grown / g, dim), quantized / g);
        vq = regrow(vq, new Shape(heads, grown, packed), quantized);
        vScale = regrow(vScale, new Shape(heads, grown, dim / g), quantized);
        vZero = regrow(vZero, new Shape(heads, grown, dim / g), quantized);
    }

    @Override
    public void append(NDArray keys, NDArray values) {
        int t = Math.toIntExact(keys.getShape().get(1));
        appendHeadMajor(keys.toFloatArray(), values.toFloatArray(), t);
        extendMask(t);
    }

    private void appendHeadMajor(float[] keys, float[] values, int t) {
        for (int i = 0; i < t; i++) {
            appendOne(keys, i * dim, t * dim, values, i * dim, t * dim);
        }
    }

    @Override
    public void appendRows(float[] rows, int from, int rowStride, int keysAt, int valuesAt, int count) {
        for (int i = 0; i < count; i++) {
            int row = from + i * rowStride;
            appendOne(rows, row + keysAt, dim, rows, row + valuesAt, dim);
        }
        extendMask(count);
    }

    /** One token: head {@code kh}'s key from {@code keys[kAt + kh·kStride]}, its value likewise. */
    private void appendOne(float[] keys, int kAt, int kStride, float[] values, int vAt, int vStride) {
        ByteBuffer[] b = views();
        for (int kh = 0; kh < heads; kh++) {
            int base = (kh * window + residual) * dim;
            for (int c = 0; c < dim; c++) {
                b[6].putShort((base + c) * 2, Half.fromFloat(keys[kAt + kh * kStride + c]));
                b[7].putShort((base + c) * 2, Half.fromFloat(values[vAt + kh * vStride + c]));
            }
        }
        residual++;
        if (residual == window) {
            flushOldestGroup();
        }
    }

    /** Quantizes the window's oldest G tokens into the next quantized slots and moves the rest down. */
    private void flushOldestGroup() {
        ensureCapacity(quantized + format.groupSize());
        ByteBuffer[] b = views();
        int g = format.groupSize();
        int levels = (1 << format.bits()) - 1;
        for (int kh = 0; kh < heads; kh++) {
            // keys: per channel over the group's G tokens
            readWindow(b[6], kh, g);
            int gi = (kh * capacity() + quantized) / g;
            for (int c = 0; c < dim; c++) {
                float min = Float.POSITIVE_INFINITY;
                float max = Float.NEGATIVE_INFINITY;
                for (int t = 0; t < g; t++) {
                    min = Math.min(min, group[t * dim + c]);
                    max = Math.max(max, group[t * dim + c]);
                }
                float[] sz = scaleAndZero(min, max, levels, b[1], b[2], (gi * dim + c) * 2);
                for (int t = 0; t < g; t++) {
                    group[t * dim + c] = code(group[t * dim + c], sz, levels);
                }
            }
            for (int t = 0; t < g; t++) {
                pack(group, t * dim, b[0], (kh * capacity() + quantized + t) * packed);
            }
            // values: per token over groups of G channels
            readWindow(b[7], kh, g);
            int groups = dim / g;
            for (int t = 0; t < g; t++) {
                int slot = kh * capacity() + quantized + t;
                for (int cg = 0; cg < groups; cg++) {
                    float min = Float.POSITIVE_INFINITY;
                    float max = Float.NEGATIVE_INFINITY;
                    for (int c = cg * g; c < cg * g + g; c++) {
                        min = Math.min(min, group[t * dim + c]);
                        max = Math.max(max, group[t * dim + c]);
                    }
                    float[] sz = scaleAndZero(min, max, levels, b[4], b[5], (slot * groups + cg) * 2);
                    for (int c = cg * g; c < cg * g + g; c++) {
                        group[t * dim + c] = code(group[t * dim + c], sz, levels);
                    }
                }
                pack(group, t * dim, b[3], slot * packed);
            }
            // the window's remaining R tokens move to its start
            int keep = residual - g;
            int from = (kh * window + g) * dim * 2;
            int to = kh * window * dim * 2;
            b[6].put(to, b[6], from, keep * dim * 2);
            b[7].put(to, b[7], from, keep * dim * 2);
        }
        quantized += g;
        residual -= g;
    }

    private final float[] scaleZero = new float[2];

    /**
     * Writes the fp16 scale and zero point of a range {@code [min, max]} and returns them as read back: codes are made
     * against the fp16-rounded values, so dequantization sees exactly what was quantized against.
     */
    private float[] scaleAndZero(float min, float max, int levels, ByteBuffer scales, ByteBuffer zeros, int at) {
        short scale = Half.fromFloat(Math.max((max - min) / levels, 1e-6f));
        short zero = Half.fromFloat(min);
        scales.putShort(at, scale);
        zeros.putShort(at, zero);
        scaleZero[0] = Half.toFloat(scale);
        scaleZero[1] = Half.toFloat(zero);
        return scaleZero;
    }

    private static float code(float x, float[] scaleZero, int levels) {
        return Math.max(0, Math.min(levels, (float) Math.rint((x - scaleZero[1]) / scaleZero[0])));
    }

    /** The window's first {@code tokens} rows of head {@code kh} into {@link #group}, as fp32. */
    private void readWindow(ByteBuffer res, int kh, int tokens) {
        int base = kh * window * dim;
        for (int i = 0; i < tokens * dim; i++) {
            group[i] = Half.toFloat(res.getShort((base + i) * 2));
        }
    }

    private void pack(float[] codes, int at, ByteBuffer target, int byteAt) {
        int per = 8 / format.bits();
        for (int i = 0; i < packed; i++) {
            int v = 0;
            for (int j = 0; j < per; j++) {
                v |= ((int) codes[at + i * per + j]) << (format.bits() * j);
            }
            target.put(byteAt + i, (byte) v);
        }
    }

    /** All entries of one head, dequantized, {@code [n, D]} into {@code out} from {@code at}. */
    private void dequantize(boolean keys, int kh, float[] out, int at) {
        ByteBuffer[] b = views();
        int g = format.groupSize();
        int bits = format.bits();
        int per = 8 / bits;
        int mask = (1 << bits) - 1;
        for (int j = 0; j < quantized; j++) {
            int slot = kh * capacity() + j;
            int codes = (keys ? 0 : 3);
            for (int c = 0; c < dim; c++) {
                int code = ((b[codes].get(slot * packed + c / per) & 0xff) >>> (bits * (c % per))) & mask;
                int param = keys ? (slot / g * dim + c) * 2 : (slot * (dim / g) + c / g) * 2;
                float scale = Half.toFloat(b[keys ? 1 : 4].getShort(param));
                float zero = Half.toFloat(b[keys ? 2 : 5].getShort(param));
                out[at + j * dim + c] = code * scale + zero;
            }
        }
        ByteBuffer res = b[keys ? 6 : 7];
        for (int j = 0; j < residual; j++) {
            for (int c = 0; c < dim; c++) {
                out[at + (quantized + j) * dim + c] = Half.toFloat(res.getShort(((kh * window + j) * dim + c) * 2));
            }
        }
    }

    private float[] read(boolean keys) {
        int n = length();
        float[] out = new float[heads * n * dim];
        for (int kh = 0; kh < heads; kh++) {
            dequantize(keys, kh, out, kh * n * dim);
        }
        return out;
    }

    @Override
    public NDArray keys(NDManager step) {
        return step.create(read(true), new Shape(heads, length(), dim));
    }

    @Override
    public NDArray values(NDManager step) {
        return step.create(read(false), new Shape(heads, length(), dim));
    }

    /**
     * Compaction of a quantized store: per-channel key groups span tokens, so the kept entries are dequantized,
     * selected and quantized again (one more rounding for entries that change group), into new buffers sized for them.
     */
    @Override
    public void retain(int[][] keep) {
        Selection sel = Selection.of(keep, length());
        int n = length();
        float[] k = read(true);
        float[] v = read(false);
        int kept = sel.kept();
        float[] nk = new float[heads * kept * dim];
        float[] nv = new float[heads * kept * dim];
        for (int kh = 0; kh < heads; kh++) {
            for (int i = 0; i < kept; i++) {
                int slot = (int) sel.index()[kh * kept + i];
                System.arraycopy(k, (kh * n + slot) * dim, nk, (kh * kept + i) * dim, dim);
                System.arraycopy(v, (kh * n + slot) * dim, nv, (kh * kept + i) * dim, dim);
            }
        }
        for (NDArray a : held()) {
            pool.free(a);
        }
        kRes = allocate(new Shape(heads, window, dim), DataType.FLOAT16);
        vRes = allocate(new Shape(heads, window, dim), DataType.FLOAT16);
        allocateQuantized(roundUpToGroups(quantizedAt(format, kept)));
        quantized = 0;
        residual = 0;
        appendHeadMajor(nk, nv, kept);
        resetMask(sel, keep.length);
    }

    @Override
    protected NDArray[] held() {
        return new NDArray[] {kq, kScale, kZero, vq, vScale, vZero, kRes, vRes};
    }

    @Override
    protected void clear() {
        kq = kScale = kZero = vq = vScale = vZero = kRes = vRes = null;
    }
}
