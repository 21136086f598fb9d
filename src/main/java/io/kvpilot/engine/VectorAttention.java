package io.kvpilot.engine;

import io.kvpilot.kvcache.quant.Half;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * One decode query per head against one sequence's dense cache, read in place ({@code [K, capacity, E]} fp32 views of
 * the cache's own buffers): scores, softmax and the weighted sum of values in one pass over the entries, with the
 * Vector API. It replaces, per layer, the dozen-plus libtorch ops per sequence (or the batch's concatenated copy of
 * every sequence's cache) that made decode attention the part of a batch-16 step that grew with the batch
 * (docs/benchmarks.md). GQA: query head {@code h} reads kv head {@code h / G}; the 1/√E scale is already in q.
 */
final class VectorAttention {

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_256;
    private static final VectorSpecies<Byte> BYTES = ByteVector.SPECIES_64; // 8 codes, one per float lane
    private static final VectorSpecies<Short> HALVES = ShortVector.SPECIES_128; // 8 fp16, one per float lane
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();

    private VectorAttention() {}

    private static boolean warm;

    /** Runs the kernel until the JIT has compiled it (see {@link VectorSgemm#warmUp}). */
    static synchronized void warmUp() {
        if (warm) {
            return;
        }
        int e = 16;
        ByteBuffer kv = ByteBuffer.allocateDirect(2 * 8 * e * Float.BYTES).order(ORDER);
        float[] q = new float[2 * e];
        float[] out = new float[2 * e];
        float[] scores = new float[8];
        for (int i = 0; i < 20_000; i++) {
            attend(q, 0, kv, kv, 8, 8, 1, 2, e, out, 0, scores);
        }
        warm = true;
    }

    /** Copies {@code length} floats of {@code src} from {@code offset} into {@code target} from float index {@code at}. */
    static void write(ByteBuffer target, int at, float[] src, int offset, int length) {
        int c = 0;
        for (; c + S.length() <= length; c += S.length()) {
            FloatVector.fromArray(S, src, offset + c).intoByteBuffer(target, (at + c) * Float.BYTES, ORDER);
        }
        for (; c < length; c++) {
            target.putFloat((at + c) * Float.BYTES, src[offset + c]);
        }
    }

    /**
     * @param q the queries, {@code [H, E]} from {@code qOff}
     * @param keys the key buffer view, {@code [K, cap, E]}
     * @param values the value buffer view, same shape
     * @param n entries held (the new one included)
     * @param out {@code [H, E]} from {@code outOff}, overwritten
     * @param scores scratch of at least {@code n} floats
     */
    static void attend(float[] q, int qOff, ByteBuffer keys, ByteBuffer values, int cap, int n, int kvHeads,
            int groups, int e, float[] out, int outOff, float[] scores) {
        attend(q, qOff, keys, values, cap, n, kvHeads, groups, e, out, outOff, scores, null, 0, 0);
    }

    /**
     * As above, and with {@code probs} also writes each head's attention probabilities over the {@code n} entries,
     * head {@code h} from {@code probsOff + h · probsStride} (what a compression method observes at prefill).
     */
    static void attend(float[] q, int qOff, ByteBuffer keys, ByteBuffer values, int cap, int n, int kvHeads,
            int groups, int e, float[] out, int outOff, float[] scores, float[] probs, int probsOff, int probsStride) {
        int vectorEnd = e - e % S.length();
        for (int h = 0; h < kvHeads * groups; h++) {
            int kvBase = (h / groups) * cap * e; // in floats
            int qh = qOff + h * e;
            float max = Float.NEGATIVE_INFINITY;
            for (int j = 0; j < n; j++) {
                int row = (kvBase + j * e) * Float.BYTES;
                FloatVector acc = FloatVector.zero(S);
                for (int c = 0; c < vectorEnd; c += S.length()) {
                    acc = FloatVector.fromArray(S, q, qh + c)
                            .fma(FloatVector.fromByteBuffer(S, keys, row + c * Float.BYTES, ORDER), acc);
                }
                float dot = VectorMath.sum(acc);
                for (int c = vectorEnd; c < e; c++) {
                    dot += q[qh + c] * keys.getFloat(row + c * Float.BYTES);
                }
                scores[j] = dot;
                max = Math.max(max, dot);
            }
            float sum = 0;
            int j = 0;
            for (; j + S.length() <= n; j += S.length()) {
                FloatVector p = VectorMath.exp(FloatVector.fromArray(S, scores, j).sub(max));
                p.intoArray(scores, j);
                sum += VectorMath.sum(p);
            }
            for (; j < n; j++) {
                scores[j] = VectorMath.exp(scores[j] - max);
                sum += scores[j];
            }
            int oh = outOff + h * e;
            java.util.Arrays.fill(out, oh, oh + e, 0f);
            float inv = 1f / sum;
            for (int i = 0; probs != null && i < n; i++) {
                probs[probsOff + h * probsStride + i] = scores[i] * inv;
            }
            for (j = 0; j < n; j++) {
                int row = (kvBase + j * e) * Float.BYTES;
                float p = scores[j] * inv;
                FloatVector pv = FloatVector.broadcast(S, p);
                for (int c = 0; c < vectorEnd; c += S.length()) {
                    FloatVector.fromByteBuffer(S, values, row + c * Float.BYTES, ORDER)
                            .fma(pv, FloatVector.fromArray(S, out, oh + c)).intoArray(out, oh + c);
                }
                for (int c = vectorEnd; c < e; c++) {
                    out[oh + c] += p * values.getFloat(row + c * Float.BYTES);
                }
            }
        }
    }

    /** {@code scores[0, n)} → {@code exp(score − max)} in place; returns their sum. */
    private static float exponentiate(float[] scores, int n, float max) {
        float sum = 0;
        int j = 0;
        for (; j + S.length() <= n; j += S.length()) {
            FloatVector p = VectorMath.exp(FloatVector.fromArray(S, scores, j).sub(max));
            p.intoArray(scores, j);
            sum += VectorMath.sum(p);
        }
        for (; j < n; j++) {
            scores[j] = VectorMath.exp(scores[j] - max);
            sum += scores[j];
        }
        return sum;
    }

    /** Eight int8 codes from {@code byteAt} as floats. */
    private static FloatVector int8s(ByteBuffer codes, int byteAt) {
        return (FloatVector) ByteVector.fromByteBuffer(BYTES, codes, byteAt, ORDER)
                .convertShape(VectorOperators.B2F, S, 0);
    }

    /**
     * Eight fp16 values from {@code byteAt} as floats: the half's exponent and mantissa shifted into a float's place
     * give the value times 2⁻¹¹², subnormals included; K/V hold no infinities or NaN.
     */
    private static FloatVector halves(ByteBuffer buffer, int byteAt) {
        IntVector bits = (IntVector) ShortVector.fromByteBuffer(HALVES, buffer, byteAt, ORDER)
                .convertShape(VectorOperators.S2I, IntVector.SPECIES_256, 0);
        IntVector magnitude = bits.and(0x7fff).lanewise(VectorOperators.LSHL, 13);
        IntVector sign = bits.and(0x8000).lanewise(VectorOperators.LSHL, 16);
        FloatVector scaled = magnitude.reinterpretAsFloats().mul(0x1p112f);
        return scaled.reinterpretAsInts().or(sign).reinterpretAsFloats();
    }

    /**
     * Decode attention over an int8 store read in place ({@code Int8KvStore.views()}: codes {@code [K, cap, E]} int8
     * and one fp32 scale per entry, for K then V): the per-entry key scale multiplies the score, the value scale the
     * probability, so nothing is dequantized into memory. Arguments as {@link #attend}.
     */
    static void attendInt8(float[] q, int qOff, ByteBuffer[] store, int cap, int n, int kvHeads, int groups, int e,
            float[] out, int outOff, float[] scores) {
        ByteBuffer kq = store[0];
        ByteBuffer ks = store[1];
        ByteBuffer vq = store[2];
        ByteBuffer vs = store[3];
        int vectorEnd = e - e % S.length();
        for (int h = 0; h < kvHeads * groups; h++) {
            int base = (h / groups) * cap; // entry rows
            int qh = qOff + h * e;
            float max = Float.NEGATIVE_INFINITY;
            for (int j = 0; j < n; j++) {
                int row = (base + j) * e;
                FloatVector acc = FloatVector.zero(S);
                for (int c = 0; c < vectorEnd; c += S.length()) {
                    acc = FloatVector.fromArray(S, q, qh + c).fma(int8s(kq, row + c), acc);
                }
                float dot = VectorMath.sum(acc);
                for (int c = vectorEnd; c < e; c++) {
                    dot += q[qh + c] * kq.get(row + c);
                }
                dot *= ks.getFloat((base + j) * Float.BYTES);
                scores[j] = dot;
                max = Math.max(max, dot);
            }
            float inv = 1f / exponentiate(scores, n, max);
            int oh = outOff + h * e;
            java.util.Arrays.fill(out, oh, oh + e, 0f);
            for (int j = 0; j < n; j++) {
                int row = (base + j) * e;
                float p = scores[j] * inv * vs.getFloat((base + j) * Float.BYTES);
                FloatVector pv = FloatVector.broadcast(S, p);
                for (int c = 0; c < vectorEnd; c += S.length()) {
                    int8s(vq, row + c).fma(pv, FloatVector.fromArray(S, out, oh + c)).intoArray(out, oh + c);
                }
                for (int c = vectorEnd; c < e; c++) {
                    out[oh + c] += p * vq.get(row + c);
                }
            }
        }
    }

    /** Whether {@link #attendKivi} takes a KIVI layout: whole vectors of codes, one channel group per vector. */
    static boolean kiviLayoutFits(int e, int bits, int groupSize) {
        int per = 8 / bits;
        return e % S.length() == 0 && (e / per) % BYTES.length() == 0 && groupSize % (BYTES.length() * per) == 0
                && e % groupSize == 0;
    }

    /**
     * Decode attention over a KIVI store read in place ({@code KiviKvStore.views()}), for layouts
     * {@link #kiviLayoutFits} takes. Keys: within a token group each channel has one scale {@code s} and zero
     * {@code z}, so {@code q·k = Σ (q s)·code + Σ q z}: the scaled query is formed once per group and each token costs
     * a dot with its raw codes. Values: {@code Σ p (s·code + z)} accumulates {@code p s} times the codes and
     * {@code p z} per channel group. Codes are unpacked in vector registers (byte {@code i} holds channels
     * {@code i·per .. i·per+per−1}, lowest in the low bits), so the scaled query and the output accumulate in
     * "phase-major" order and are put back in channel order at the end. The fp16 window is read as fp16.
     *
     * @param n entries visible: the first {@code min(n, quantized)} quantized, the rest from the window
     * @param scratch at least {@code 3·e} floats, this thread's
     */
    static void attendKivi(float[] q, int qOff, ByteBuffer[] store, int cap, int quantized, int window, int bits,
            int groupSize, int n, int kvHeads, int groups, int e, float[] out, int outOff, float[] scores,
            float[] scratch) {
        int per = 8 / bits;
        int packed = e / per;
        byte mask = (byte) ((1 << bits) - 1);
        int channelGroups = e / groupSize;
        int nq = Math.min(n, quantized);
        int qs = 0; // scratch: the scaled query, phase-major
        int acc = e; // the value accumulator, phase-major
        int zAcc = 2 * e; // Σ p z per channel group
        for (int h = 0; h < kvHeads * groups; h++) {
            int kh = h / groups;
            int qh = qOff + h * e;
            float max = Float.NEGATIVE_INFINITY;
            for (int j0 = 0; j0 < nq; j0 += groupSize) {
                int param = (kh * cap + j0) / groupSize * e * 2; // bytes into the key scales and zeros
                float qz = 0;
                for (int c = 0; c < e; c++) {
                    float qc = q[qh + c];
                    scratch[qs + (c % per) * packed + c / per] = qc * Half.toFloat(store[1].getShort(param + 2 * c));
                    qz += qc * Half.toFloat(store[2].getShort(param + 2 * c));
                }
                for (int j = j0, end = Math.min(j0 + groupSize, nq); j < end; j++) {
                    int row = (kh * cap + j) * packed;
                    FloatVector sum = FloatVector.zero(S);
                    for (int i = 0; i < packed; i += BYTES.length()) {
                        ByteVector codes = ByteVector.fromByteBuffer(BYTES, store[0], row + i, ORDER);
                        for (int ph = 0; ph < per; ph++) {
                            FloatVector c = (FloatVector) codes.lanewise(VectorOperators.LSHR, bits * ph).and(mask)
                                    .convertShape(VectorOperators.B2F, S, 0);
                            sum = FloatVector.fromArray(S, scratch, qs + ph * packed + i).fma(c, sum);
                        }
                    }
                    float dot = VectorMath.sum(sum) + qz;
                    scores[j] = dot;
                    max = Math.max(max, dot);
                }
            }
            for (int j = quantized; j < n; j++) {
                int row = (kh * window + j - quantized) * e * 2;
                FloatVector sum = FloatVector.zero(S);
                for (int c = 0; c < e; c += S.length()) {
                    sum = FloatVector.fromArray(S, q, qh + c).fma(halves(store[6], row + 2 * c), sum);
                }
                float dot = VectorMath.sum(sum);
                scores[j] = dot;
                max = Math.max(max, dot);
            }
            float inv = 1f / exponentiate(scores, n, max);
            java.util.Arrays.fill(scratch, acc, zAcc + channelGroups, 0f);
            for (int j = 0; j < nq; j++) {
                int slot = kh * cap + j;
                float p = scores[j] * inv;
                int row = slot * packed;
                int param = slot * channelGroups * 2;
                for (int i = 0; i < packed; i += BYTES.length()) {
                    int cg = i * per / groupSize;
                    FloatVector ps = FloatVector.broadcast(S, p * Half.toFloat(store[4].getShort(param + 2 * cg)));
                    ByteVector codes = ByteVector.fromByteBuffer(BYTES, store[3], row + i, ORDER);
                    for (int ph = 0; ph < per; ph++) {
                        FloatVector c = (FloatVector) codes.lanewise(VectorOperators.LSHR, bits * ph).and(mask)
                                .convertShape(VectorOperators.B2F, S, 0);
                        int at = acc + ph * packed + i;
                        c.fma(ps, FloatVector.fromArray(S, scratch, at)).intoArray(scratch, at);
                    }
                }
                for (int cg = 0; cg < channelGroups; cg++) {
                    scratch[zAcc + cg] += p * Half.toFloat(store[5].getShort(param + 2 * cg));
                }
            }
            int oh = outOff + h * e;
            for (int c = 0; c < e; c++) {
                out[oh + c] = scratch[acc + (c % per) * packed + c / per] + scratch[zAcc + c / groupSize];
            }
            for (int j = quantized; j < n; j++) {
                int row = (kh * window + j - quantized) * e * 2;
                FloatVector pv = FloatVector.broadcast(S, scores[j] * inv);
                for (int c = 0; c < e; c += S.length()) {
                    halves(store[7], row + 2 * c).fma(pv, FloatVector.fromArray(S, out, oh + c))
                            .intoArray(out, oh + c);
                }
            }
        }
    }
}
