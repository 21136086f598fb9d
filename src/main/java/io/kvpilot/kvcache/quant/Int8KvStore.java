package io.kvpilot.kvcache.quant;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.kvpilot.kvcache.KvBlockPool;
import java.nio.ByteBuffer;

/**
 * int8 keys and values with one symmetric fp32 scale per token and head ({@code |error| <= scale / 2}), in capacity
 * buffers ({@code [K, cap, D]} int8 codes, {@code [K, cap, 1]} fp32 scales for each of K and V) that grow
 * geometrically ({@link QuantizedStore#grownCapacity}); an append quantizes its rows in Java (round half to even, as a tensor's round) straight into the next
 * slots, whichever engine path made them, so both paths read the same bytes.
 *
 * <p>{@link #views()}: K codes {@code [K, cap, D]} int8, K scales {@code [K, cap]} fp32, then V's codes and scales.
 * Readers: the Java forward pass dequantizes inside its attention loop from the views; libtorch attends on
 * the codes through {@link #attend} (the block cast to fp32 inside the step, the scales applied to the scores and the
 * probabilities); {@link #keys}/{@link #values} dequantize for this step only.
 */
public final class Int8KvStore extends QuantizedStore implements DirectAttention, InPlaceKvStore {

    private NDArray kq; // [K, cap, D] int8
    private NDArray ks; // [K, cap, 1] f32
    private NDArray vq;
    private NDArray vs;
    private int length;

    /** Quantizes {@code keys}/{@code values} {@code [K, n, D]} (fp32, left to the caller). */
    public Int8KvStore(KvBlockPool pool, NDManager manager, NDArray keys, NDArray values, NDArray mask) {
        super(pool, manager, keys, mask, KvBlockPool.BLOCK_TOKENS);
        int n = Math.toIntExact(keys.getShape().get(1));
        replacedBuffers(KvBlockPool.roundUpToBlocks(n));
        kq = allocate(codeShape(capacity()), DataType.INT8);
        ks = allocate(scaleShape(capacity()), DataType.FLOAT32);
        vq = allocate(codeShape(capacity()), DataType.INT8);
        vs = allocate(scaleShape(capacity()), DataType.FLOAT32);
        appendHeadMajor(keys.toFloatArray(), values.toFloatArray(), n);
    }

    private Shape codeShape(int cap) {
        return new Shape(heads, cap, dim);
    }

    private Shape scaleShape(int cap) {
        return new Shape(heads, cap, 1);
    }

    @Override
    public int length() {
        return length;
    }

    @Override
    public void reserve(int entries) {
        ensureCapacity(length + entries);
    }

    @Override
    protected void regrowTo(int grown) {
        kq = regrow(kq, codeShape(grown), length);
        ks = regrow(ks, scaleShape(grown), length);
        vq = regrow(vq, codeShape(grown), length);
        vs = regrow(vs, scaleShape(grown), length);
    }

    @Override
    public void append(NDArray keys, NDArray values) {
        int t = Math.toIntExact(keys.getShape().get(1));
        ensureCapacity(length + t);
        appendHeadMajor(keys.toFloatArray(), values.toFloatArray(), t);
        extendMask(t);
    }

    /** Appends {@code t} entries given as {@code [K, t, D]} arrays. */
    private void appendHeadMajor(float[] keys, float[] values, int t) {
        ByteBuffer[] b = views();
        for (int kh = 0; kh < heads; kh++) {
            for (int i = 0; i < t; i++) {
                int slot = kh * capacity() + length + i;
                int at = (kh * t + i) * dim;
                put(keys, at, b[0], b[1], slot);
                put(values, at, b[2], b[3], slot);
            }
        }
        length += t;
    }

    @Override
    public void appendRows(float[] rows, int from, int rowStride, int keysAt, int valuesAt, int count) {
        ensureCapacity(length + count);
        ByteBuffer[] b = views();
        for (int i = 0; i < count; i++) {
            int row = from + i * rowStride;
            for (int kh = 0; kh < heads; kh++) {
                int slot = kh * capacity() + length + i;
                put(rows, row + keysAt + kh * dim, b[0], b[1], slot);
                put(rows, row + valuesAt + kh * dim, b[2], b[3], slot);
            }
        }
        length += count;
        extendMask(count);
    }

    /** Quantizes {@code dim} floats of {@code src} from {@code at} into row {@code slot}: the rule of {@link #quantize}. */
    private void put(float[] src, int at, ByteBuffer codes, ByteBuffer scales, int slot) {
        float max = 0;
        for (int c = 0; c < dim; c++) {
            max = Math.max(max, Math.abs(src[at + c]));
        }
        float scale = Math.max(max / 127f, 1e-12f);
        int base = slot * dim;
        for (int c = 0; c < dim; c++) {
            float code = (float) Math.rint(src[at + c] / scale);
            codes.put(base + c, (byte) Math.max(-127f, Math.min(127f, code)));
        }
        scales.putFloat(slot * Float.BYTES, scale);
    }

    @Override
    public NDArray keys(NDManager step) {
        return step.create(dequantize(0), new Shape(heads, length, dim));
    }

    @Override
    public NDArray values(NDManager step) {
        return step.create(dequantize(2), new Shape(heads, length, dim));
    }

    private float[] dequantize(int which) {
        ByteBuffer[] b = views();
        float[] out = new float[heads * length * dim];
        for (int kh = 0; kh < heads; kh++) {
            for (int j = 0; j < length; j++) {
                int slot = kh * capacity() + j;
                float scale = b[which + 1].getFloat(slot * Float.BYTES);
                for (int c = 0; c < dim; c++) {
                    out[(kh * length + j) * dim + c] = b[which].get(slot * dim + c) * scale;
                }
            }
        }
        return out;
    }

    @Override
    public NDArray attend(NDArray q, NDManager step) {
        NDIndex held = new NDIndex().addAllDim().addSliceDim(0, length);
        return Scoped.run(step, s -> {
            NDArray keyScales = ks.get(held).transpose(0, 2, 1); // [K, 1, n]
            NDArray scores = q.matMul(kq.get(held).toType(DataType.FLOAT32, false).transpose(0, 2, 1))
                    .mul(keyScales); // [K, G, n]
            if (mask != null) {
                scores = scores.add(mask);
            }
            return scores.softmax(-1).mul(vs.get(held).transpose(0, 2, 1))
                    .matMul(vq.get(held).toType(DataType.FLOAT32, false));
        }, q, kq, ks, vq, vs, mask);
    }

    /** Keeps the selected entries of each head, tensor by tensor: each copy exists before its original is freed. */
    @Override
    public void retain(int[][] keep) {
        Selection sel = Selection.of(keep, length);
        int newCapacity = KvBlockPool.roundUpToBlocks(sel.kept());
        kq = gatherRows(kq, capacity(), sel, codeShape(newCapacity));
        ks = gatherRows(ks, capacity(), sel, scaleShape(newCapacity));
        vq = gatherRows(vq, capacity(), sel, codeShape(newCapacity));
        vs = gatherRows(vs, capacity(), sel, scaleShape(newCapacity));
        replacedBuffers(newCapacity);
        length = sel.kept();
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
