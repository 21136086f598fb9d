package io.kvpilot.engine;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
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
}
