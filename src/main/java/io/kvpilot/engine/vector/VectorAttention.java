package io.kvpilot.engine.vector;

import io.kvpilot.kvcache.HeadPadding;
import io.kvpilot.kvcache.quant.Half;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * One decode query per head against one sequence's dense cache, read in place ({@code [K, capacity, E]} fp32 views of
 * the cache's own buffers): scores, softmax and the weighted sum of values in one pass over the entries, with the
 * Vector API. It replaces, per layer, the dozen-plus libtorch ops per sequence (or the batch's concatenated copy of
 * every sequence's cache) that made decode attention the part of a batch-16 step that grew with the batch
 * (docs/benchmarks.md). GQA: query head {@code h} reads kv head {@code h / G}; the 1/√E scale is already in q.
 *
 * <p>Every kernel takes the store's {@link HeadPadding} (null when its heads hold equal counts): a head-ragged
 * (AdaKV) store's KV head {@code kh} attends over its own entries only, the padded slots {@code [from[kh], to)}
 * skipped rather than scored and masked. Scores are kept compacted (entry {@code i} of the head's visible ones at
 * {@code scores[i]}).
 */
final class VectorAttention {

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_256;
    private static final VectorSpecies<Byte> BYTES = ByteVector.SPECIES_64; // 8 codes, one per float lane
    private static final VectorSpecies<Short> HALVES = ShortVector.SPECIES_128; // 8 fp16, one per float lane
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();
    private static final VectorSpecies<Integer> WORDS = IntVector.SPECIES_256; // 32 code bytes, 4 per int lane
    private static final int WORD_BYTES = 32;
    private static final VectorMask<Float> HIGH_LANES = VectorMask.fromLong(S, 0xF0L);
    /** Channels whose accumulators the blocked kernels keep in registers across entries: four vectors. */
    private static final int BLOCK = 32;
    /** Quantized tokens whose value lane scales {@link #kiviLaneScales} forms at a time (a table that stays in L1). */
    private static final int CHUNK = 32;
    /** {@link #expand}'s spreads: lane {@code L} takes element {@code L / r}, r = 1, 2, 4, and 8 (a broadcast). */
    @SuppressWarnings("unchecked")
    private static final VectorShuffle<Float>[] EXPAND = new VectorShuffle[] {
        VectorShuffle.iota(S, 0, 1, false), VectorShuffle.fromValues(S, 0, 0, 1, 1, 2, 2, 3, 3),
        VectorShuffle.fromValues(S, 0, 0, 0, 0, 1, 1, 1, 1), VectorShuffle.fromValues(S, 0, 0, 0, 0, 0, 0, 0, 0)};
    private static final VectorShuffle<Float> SWAP_HALVES = VectorShuffle.fromValues(S, 4, 5, 6, 7, 0, 1, 2, 3);
    private static final VectorMask<Float> LOW_LANES = VectorMask.fromLong(S, 0x0FL);
    private static final VectorMask<Float> ODD_PAIRS = VectorMask.fromLong(S, 0xCCL);
    private static final VectorMask<Float> EVEN_PAIRS = VectorMask.fromLong(S, 0x33L);
    private static final VectorMask<Float> ODD_LANES = VectorMask.fromLong(S, 0xAAL);
    private static final VectorMask<Float> EVEN_LANES = VectorMask.fromLong(S, 0x55L);
    private static final VectorShuffle<Float> UNZIP = VectorShuffle.fromValues(S, 0, 4, 1, 5, 2, 6, 3, 7);
    private static final VectorShuffle<Float> PAIRS = VectorShuffle.fromValues(S, 2, 3, 0, 1, 6, 7, 4, 5);
    private static final VectorShuffle<Float> NEIGHBOURS = VectorShuffle.fromValues(S, 1, 0, 3, 2, 5, 4, 7, 6);
    /** Per-thread scratch of the word-layout kernels: phase-major queries, accumulators, lane scales. */
    private static final ThreadLocal<float[]> LANES = ThreadLocal.withInitial(() -> new float[0]);

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
        HeadPadding padding = new HeadPadding(new int[] {3}, 5);
        for (int i = 0; i < 20_000; i++) {
            attend(q, 0, kv, kv, 8, 8, 1, 2, e, out, 0, scores);
            attend(q, 0, kv, kv, 8, 8, 1, 2, e, out, 0, scores, null, 0, 0, padding);
        }
        // the quantized kernels too, so that the first int8 or KIVI request does not decode on interpreted vectors:
        // one KV head of head dim 64, 8 int8 entries; KIVI 4 and 2 bits, 32 quantized + 8 window entries, group 32
        // (unpadded: the word kernel's rows of one word and of two tokens a word; at head dim 128, of two words)
        int d = 64;
        float[] qd = new float[2 * d];
        float[] outd = new float[2 * d];
        float[] scoresd = new float[3 * 40];
        float[] scratch = new float[7 * 2 * d];
        ByteBuffer zeros = ByteBuffer.allocateDirect(64 * d * Float.BYTES).order(ORDER);
        ByteBuffer[] int8 = {zeros, zeros, zeros, zeros};
        ByteBuffer[] kivi = {zeros, zeros, zeros, zeros, zeros, zeros, zeros, zeros};
        ByteBuffer[] lowRank = {zeros, zeros, zeros};
        HeadPadding kiviPadding = new HeadPadding(new int[] {30}, 34);
        ByteBuffer denseKv = ByteBuffer.allocateDirect(40 * d * Float.BYTES).order(ORDER);
        float[] q3 = new float[3 * d];
        float[] q128 = new float[3 * 2 * d];
        float[] out128 = new float[3 * 2 * d];
        float[] out3 = new float[3 * d];
        for (int i = 0; i < 5_000; i++) {
            attend(q3, 0, denseKv, denseKv, 40, 40, 1, 3, d, out3, 0, scoresd, null, 0, 0,
                    i % 2 == 0 ? null : kiviPadding);
            attend(qd, 0, denseKv, denseKv, 40, 40, 1, 1, d, outd, 0, scoresd);
            attendInt8(qd, 0, int8, 8, 8, 1, 1, d, outd, 0, scoresd, i % 2 == 0 ? null : padding);
            attendInt8(qd, 0, int8, 8, 8, 1, 2, d, outd, 0, scoresd, i % 2 == 0 ? null : padding);
            attendKivi(qd, 0, kivi, 32, 32, 64, 4, 32, 40, 1, 2, d, outd, 0, scoresd, scratch,
                    i % 2 == 0 ? null : kiviPadding);
            attendKivi(qd, 0, kivi, 32, 32, 64, 2, 32, 40, 1, 2, d, outd, 0, scoresd, scratch,
                    i % 2 == 0 ? null : kiviPadding);
            if (i % 4 == 0) {
                attendKivi(q128, 0, kivi, 32, 32, 64, 4, 32, 40, 1, 3, 2 * d, out128, 0, scoresd, scratch, null);
            }
            attendLowRank(qd, 0, lowRank, 40, 32, 40, 1, 2, d, outd, 0, scoresd, scratch,
                    i % 2 == 0 ? null : kiviPadding);
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
     * @param scores scratch of at least {@code 3 · n} floats for the blocked kernel (with {@code n} only, or a head dim
     *     that is not a multiple of {@value #BLOCK}, it runs head by head: slower, the same bits)
     */
    static void attend(float[] q, int qOff, ByteBuffer keys, ByteBuffer values, int cap, int n, int kvHeads,
            int groups, int e, float[] out, int outOff, float[] scores) {
        attend(q, qOff, keys, values, cap, n, kvHeads, groups, e, out, outOff, scores, null, 0, 0, null);
    }

    /**
     * As above, over a store padded as {@code pad} says (null: not padded), and with {@code probs} also writes each
     * head's attention probabilities over the {@code n} slots (0 at padded ones), head {@code h} from
     * {@code probsOff + h · probsStride} (what a compression method observes at prefill).
     */
    static void attend(float[] q, int qOff, ByteBuffer keys, ByteBuffer values, int cap, int n, int kvHeads,
            int groups, int e, float[] out, int outOff, float[] scores, float[] probs, int probsOff, int probsStride,
            HeadPadding pad) {
        if (e % BLOCK != 0 || scores.length < 3 * n) {
            attendPerHead(q, qOff, keys, values, cap, n, kvHeads, groups, e, out, outOff, scores, probs, probsOff,
                    probsStride, pad);
            return;
        }
        for (int kh = 0; kh < kvHeads; kh++) {
            int kvBase = kh * cap * e; // in floats
            int lo = pad == null ? n : pad.from()[kh];
            int gap = pad == null ? 0 : pad.hidden(kh, n);
            int m = n - gap;
            for (int g0 = 0; g0 < groups; g0 += 3) {
                int heads = Math.min(3, groups - g0);
                int h0 = kh * groups + g0;
                int q0 = qOff + h0 * e;
                if (heads == 1) {
                    scoreOne(q, q0, keys, kvBase, e, m, lo, gap, scores);
                } else { // two heads score a copy of the first as the third: same loads, result unused
                    scoreThree(q, q0, q0 + e, heads > 2 ? q0 + 2 * e : q0, keys, kvBase, e, m, lo, gap, scores, n);
                }
                for (int j = 0; j < heads; j++) {
                    normalize(scores, j * n, m, softmaxRow(scores, j * n, m));
                }
                for (int j = 0; probs != null && j < heads; j++) {
                    int at = probsOff + (h0 + j) * probsStride;
                    for (int i = 0; i < m; i++) {
                        probs[at + slot(i, lo, gap)] = scores[j * n + i];
                    }
                }
                int o0 = outOff + h0 * e;
                if (heads == 1) {
                    weighOne(values, kvBase, e, scores, m, lo, gap, out, o0);
                } else {
                    weighThree(values, kvBase, e, scores, n, m, lo, gap, heads, out, o0);
                }
            }
        }
    }

    /**
     * Scores of one query head over a head's {@code m} visible fp32 keys, two entries at a time: each entry's dot is
     * one FMA chain across the head dim (so its bits do not depend on the pairing), and two independent chains keep
     * the FMA units busy where one would wait on its own latency.
     */
    private static void scoreOne(float[] q, int qh, ByteBuffer keys, int kvBase, int e, int m, int lo, int gap,
            float[] scores) {
        int i = 0;
        for (; i + 1 < m; i += 2) {
            int r0 = (kvBase + slot(i, lo, gap) * e) * Float.BYTES;
            int r1 = (kvBase + slot(i + 1, lo, gap) * e) * Float.BYTES;
            FloatVector a = FloatVector.zero(S);
            FloatVector b = a;
            for (int c = 0; c < e; c += S.length()) {
                FloatVector qc = FloatVector.fromArray(S, q, qh + c);
                a = qc.fma(FloatVector.fromByteBuffer(S, keys, r0 + c * Float.BYTES, ORDER), a);
                b = qc.fma(FloatVector.fromByteBuffer(S, keys, r1 + c * Float.BYTES, ORDER), b);
            }
            scores[i] = VectorMath.sum(a);
            scores[i + 1] = VectorMath.sum(b);
        }
        for (; i < m; i++) {
            int r0 = (kvBase + slot(i, lo, gap) * e) * Float.BYTES;
            FloatVector a = FloatVector.zero(S);
            for (int c = 0; c < e; c += S.length()) {
                a = FloatVector.fromArray(S, q, qh + c)
                        .fma(FloatVector.fromByteBuffer(S, keys, r0 + c * Float.BYTES, ORDER), a);
            }
            scores[i] = VectorMath.sum(a);
        }
    }

    /**
     * Scores of three query heads sharing a KV head (GQA) into {@code scores} rows {@code 0, n, 2n}: each key vector is
     * loaded once for the three, whose chains run side by side.
     */
    private static void scoreThree(float[] q, int qa, int qb, int qc, ByteBuffer keys, int kvBase, int e, int m,
            int lo, int gap, float[] scores, int n) {
        for (int i = 0; i < m; i++) {
            int row = (kvBase + slot(i, lo, gap) * e) * Float.BYTES;
            FloatVector a0 = FloatVector.zero(S);
            FloatVector a1 = a0;
            FloatVector a2 = a0;
            for (int c = 0; c < e; c += S.length()) {
                FloatVector k = FloatVector.fromByteBuffer(S, keys, row + c * Float.BYTES, ORDER);
                a0 = FloatVector.fromArray(S, q, qa + c).fma(k, a0);
                a1 = FloatVector.fromArray(S, q, qb + c).fma(k, a1);
                a2 = FloatVector.fromArray(S, q, qc + c).fma(k, a2);
            }
            scores[i] = VectorMath.sum(a0);
            scores[n + i] = VectorMath.sum(a1);
            scores[2 * n + i] = VectorMath.sum(a2);
        }
    }

    /**
     * {@code out[o, +e) = Σ_i scores[i] · value(slot(i))} over normalized probabilities, {@value #BLOCK} channels at a
     * time held in registers
     * across the entries (where the per-head loop loaded and stored the output row once per entry): the same sum, in
     * the same order, so the same bits.
     */
    private static void weighOne(ByteBuffer values, int kvBase, int e, float[] scores, int m, int lo, int gap,
            float[] out, int o) {
        for (int c = 0; c < e; c += BLOCK) {
            FloatVector x0 = FloatVector.zero(S);
            FloatVector x1 = x0;
            FloatVector x2 = x0;
            FloatVector x3 = x0;
            for (int i = 0; i < m; i++) {
                int at = (kvBase + slot(i, lo, gap) * e + c) * Float.BYTES;
                FloatVector p = FloatVector.broadcast(S, scores[i]);
                x0 = FloatVector.fromByteBuffer(S, values, at, ORDER).fma(p, x0);
                x1 = FloatVector.fromByteBuffer(S, values, at + 32, ORDER).fma(p, x1);
                x2 = FloatVector.fromByteBuffer(S, values, at + 64, ORDER).fma(p, x2);
                x3 = FloatVector.fromByteBuffer(S, values, at + 96, ORDER).fma(p, x3);
            }
            x0.intoArray(out, o + c);
            x1.intoArray(out, o + c + 8);
            x2.intoArray(out, o + c + 16);
            x3.intoArray(out, o + c + 24);
        }
    }

    /**
     * {@link #weighOne} for up to three query heads of one KV head at once, over probabilities already normalized in
     * {@code scores} rows {@code 0, n, 2n} (the same products the per-head kernel takes, so the same bits; a scalar
     * factor held in the loop would take one of AVX2's 16 vector registers, and C2 would spill accumulators): each
     * value vector is loaded once for all of them, twelve accumulators in registers.
     */
    private static void weighThree(ByteBuffer values, int kvBase, int e, float[] scores, int n, int m, int lo, int gap,
            int heads, float[] out, int o) {
        for (int c = 0; c < e; c += BLOCK) { // the stores below are inline: a vector passed to a call C2 does not
            // inline is boxed, and the boxing reaches into this loop (7x slower, measured)
            FloatVector x0 = FloatVector.zero(S);
            FloatVector x1 = x0;
            FloatVector x2 = x0;
            FloatVector x3 = x0;
            FloatVector y0 = x0;
            FloatVector y1 = x0;
            FloatVector y2 = x0;
            FloatVector y3 = x0;
            FloatVector z0 = x0;
            FloatVector z1 = x0;
            FloatVector z2 = x0;
            FloatVector z3 = x0;
            for (int i = 0; i < m; i++) {
                int at = (kvBase + slot(i, lo, gap) * e + c) * Float.BYTES;
                // three probabilities, then each value vector into three accumulators: 16 vector registers live
                FloatVector p0 = FloatVector.broadcast(S, scores[i]);
                FloatVector p1 = FloatVector.broadcast(S, scores[n + i]);
                FloatVector p2 = FloatVector.broadcast(S, scores[2 * n + i]);
                FloatVector v = FloatVector.fromByteBuffer(S, values, at, ORDER);
                x0 = v.fma(p0, x0);
                y0 = v.fma(p1, y0);
                z0 = v.fma(p2, z0);
                v = FloatVector.fromByteBuffer(S, values, at + 32, ORDER);
                x1 = v.fma(p0, x1);
                y1 = v.fma(p1, y1);
                z1 = v.fma(p2, z1);
                v = FloatVector.fromByteBuffer(S, values, at + 64, ORDER);
                x2 = v.fma(p0, x2);
                y2 = v.fma(p1, y2);
                z2 = v.fma(p2, z2);
                v = FloatVector.fromByteBuffer(S, values, at + 96, ORDER);
                x3 = v.fma(p0, x3);
                y3 = v.fma(p1, y3);
                z3 = v.fma(p2, z3);
            }
            x0.intoArray(out, o + c);
            x1.intoArray(out, o + c + 8);
            x2.intoArray(out, o + c + 16);
            x3.intoArray(out, o + c + 24);
            if (heads > 1) {
                y0.intoArray(out, o + e + c);
                y1.intoArray(out, o + e + c + 8);
                y2.intoArray(out, o + e + c + 16);
                y3.intoArray(out, o + e + c + 24);
            }
            if (heads > 2) {
                z0.intoArray(out, o + 2 * e + c);
                z1.intoArray(out, o + 2 * e + c + 8);
                z2.intoArray(out, o + 2 * e + c + 16);
                z3.intoArray(out, o + 2 * e + c + 24);
            }
        }
    }

    /**
     * The kernel head by head, for head dims that are not a whole number of {@value #BLOCK}-channel blocks (and callers
     * whose scores scratch holds one head's row only); package-private so a test can hold the blocked kernel to it.
     */
    static void attendPerHead(float[] q, int qOff, ByteBuffer keys, ByteBuffer values, int cap, int n, int kvHeads,
            int groups, int e, float[] out, int outOff, float[] scores, float[] probs, int probsOff, int probsStride,
            HeadPadding pad) {
        int vectorEnd = e - e % S.length();
        for (int h = 0; h < kvHeads * groups; h++) {
            int kh = h / groups;
            int kvBase = kh * cap * e; // in floats
            int lo = pad == null ? n : pad.from()[kh]; // visible entry i sits in slot i, or i + gap from lo on
            int gap = pad == null ? 0 : pad.hidden(kh, n);
            int m = n - gap;
            int qh = qOff + h * e;
            float max = Float.NEGATIVE_INFINITY;
            for (int i = 0; i < m; i++) {
                int row = (kvBase + slot(i, lo, gap) * e) * Float.BYTES;
                FloatVector acc = FloatVector.zero(S);
                for (int c = 0; c < vectorEnd; c += S.length()) {
                    acc = FloatVector.fromArray(S, q, qh + c)
                            .fma(FloatVector.fromByteBuffer(S, keys, row + c * Float.BYTES, ORDER), acc);
                }
                float dot = VectorMath.sum(acc);
                for (int c = vectorEnd; c < e; c++) {
                    dot += q[qh + c] * keys.getFloat(row + c * Float.BYTES);
                }
                scores[i] = dot;
                max = Math.max(max, dot);
            }
            float inv = 1f / exponentiate(scores, m, max);
            for (int i = 0; probs != null && i < m; i++) {
                probs[probsOff + h * probsStride + slot(i, lo, gap)] = scores[i] * inv;
            }
            weighValues(values, kvBase, e, scores, m, lo, gap, inv, out, outOff + h * e);
        }
    }

    /** The slot of a head's {@code i}-th visible entry: padding {@code gap} slots long starts at slot {@code lo}. */
    private static int slot(int i, int lo, int gap) {
        return i < lo ? i : i + gap;
    }

    /**
     * {@code out[oh, +e) = Σ_i scores[i] · inv · value(slot(i))} over {@code m} visible entries of fp32 value rows
     * {@code e} floats long from float {@code kvBase} of {@code values}.
     */
    private static void weighValues(ByteBuffer values, int kvBase, int e, float[] scores, int m, int lo, int gap,
            float inv, float[] out, int oh) {
        int vectorEnd = e - e % S.length();
        java.util.Arrays.fill(out, oh, oh + e, 0f);
        for (int i = 0; i < m; i++) {
            int row = (kvBase + slot(i, lo, gap) * e) * Float.BYTES;
            float p = scores[i] * inv;
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

    /**
     * Decode attention over a low-rank-keys store read in place ({@code LowRankKeysStore.views()}: basis
     * {@code [K, E, r]}, coefficients {@code [K, cap, r]}, values {@code [K, cap, E]}, all fp32): a key is
     * {@code c Uᵀ}, so {@code q·k = (q U)·c} — the query is projected once per head ({@code E·r}) and each entry costs a
     * dot of {@code r} instead of {@code E}, reading {@code r / E} of dense's key bytes; values as {@link #attend}.
     *
     * @param scratch at least {@code r} floats, this thread's
     */
    static void attendLowRank(float[] q, int qOff, ByteBuffer[] store, int cap, int rank, int n, int kvHeads,
            int groups, int e, float[] out, int outOff, float[] scores, float[] scratch, HeadPadding pad) {
        boolean blocked = e % BLOCK == 0 && scores.length >= 3 * n; // values as attend's blocked kernel sums them
        for (int kh = 0; kh < kvHeads; kh++) {
            int lo = pad == null ? n : pad.from()[kh];
            int gap = pad == null ? 0 : pad.hidden(kh, n);
            int m = n - gap;
            for (int g0 = 0; g0 < groups; g0 += blocked ? 3 : 1) {
                int heads = blocked ? Math.min(3, groups - g0) : 1;
                int h0 = kh * groups + g0;
                for (int j = 0; j < heads; j++) {
                    int row = blocked ? j * n : 0;
                    lowRankScores(q, qOff + (h0 + j) * e, store, cap, rank, kh, e, m, lo, gap, scores, row, scratch);
                    normalize(scores, row, m, softmaxRow(scores, row, m));
                }
                int o0 = outOff + h0 * e;
                if (!blocked) {
                    weighValues(store[2], kh * cap * e, e, scores, m, lo, gap, 1f, out, o0);
                } else if (heads == 1) {
                    weighOne(store[2], kh * cap * e, e, scores, m, lo, gap, out, o0);
                } else {
                    weighThree(store[2], kh * cap * e, e, scores, n, m, lo, gap, heads, out, o0);
                }
            }
        }
    }

    /**
     * One query head's scores over a low-rank store's {@code m} visible entries into {@code scores[row, row + m)}: the
     * query projected onto the basis ({@code q U}, into {@code scratch}), then a dot of {@code r} per entry.
     */
    private static void lowRankScores(float[] q, int qh, ByteBuffer[] store, int cap, int rank, int kh, int e, int m,
            int lo, int gap, float[] scores, int row0, float[] scratch) {
        ByteBuffer basis = store[0];
        ByteBuffer coeff = store[1];
        int rankEnd = rank - rank % S.length();
        java.util.Arrays.fill(scratch, 0, rank, 0f);
        for (int c = 0; c < e; c++) { // q U, row by row of U
            int row = (kh * e + c) * rank;
            FloatVector qc = FloatVector.broadcast(S, q[qh + c]);
            int k = 0;
            for (; k < rankEnd; k += S.length()) {
                FloatVector.fromByteBuffer(S, basis, (row + k) * Float.BYTES, ORDER)
                        .fma(qc, FloatVector.fromArray(S, scratch, k)).intoArray(scratch, k);
            }
            for (; k < rank; k++) {
                scratch[k] += q[qh + c] * basis.getFloat((row + k) * Float.BYTES);
            }
        }
        for (int i = 0; i < m; i++) {
            int row = (kh * cap + slot(i, lo, gap)) * rank;
            FloatVector acc = FloatVector.zero(S);
            int k = 0;
            for (; k < rankEnd; k += S.length()) {
                acc = FloatVector.fromArray(S, scratch, k)
                        .fma(FloatVector.fromByteBuffer(S, coeff, (row + k) * Float.BYTES, ORDER), acc);
            }
            float dot = VectorMath.sum(acc);
            for (; k < rank; k++) {
                dot += scratch[k] * coeff.getFloat((row + k) * Float.BYTES);
            }
            scores[row0 + i] = dot;
        }
    }

    /** {@code scores[0, n)} → {@code exp(score − max)} in place; returns their sum. */
    private static float exponentiate(float[] scores, int n, float max) {
        FloatVector lanes = FloatVector.zero(S); // lane sums, folded once (softmaxRow sums the same way)
        int j = 0;
        for (; j + S.length() <= n; j += S.length()) {
            FloatVector p = VectorMath.exp(FloatVector.fromArray(S, scores, j).sub(max));
            p.intoArray(scores, j);
            lanes = lanes.add(p);
        }
        float sum = VectorMath.sum(lanes);
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


    /** This thread's scratch of at least {@code floats}. */
    private static float[] lanes(int floats) {
        float[] lanes = LANES.get();
        if (lanes.length < floats) {
            lanes = new float[floats];
            LANES.set(lanes);
        }
        return lanes;
    }

    /** The {@code mask}-wide codes at bit {@code shift} of each int lane of {@code words}, as floats. */
    private static FloatVector code(IntVector words, int shift, int mask) {
        return (FloatVector) words.lanewise(VectorOperators.LSHR, shift).and(mask).convert(VectorOperators.I2F, 0);
    }

    /**
     * Eight packed bytes from {@code byteAt}, one per int lane: codes are shifted and masked as ints, since AVX2 has
     * no byte-lane shifts (a byte-vector shift would leave C2's intrinsics for boxed vector objects).
     */
    private static IntVector widened(ByteBuffer codes, int byteAt) {
        return (IntVector) ByteVector.fromByteBuffer(BYTES, codes, byteAt, ORDER)
                .convertShape(VectorOperators.B2I, IntVector.SPECIES_256, 0);
    }

    /** The codes of {@code widened} bytes at bit {@code shift}, as floats (the sign extension is masked off). */
    private static FloatVector unpacked(IntVector widened, int shift, int mask) {
        return (FloatVector) widened.lanewise(VectorOperators.LSHR, shift).and(mask)
                .convert(VectorOperators.I2F, 0);
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
     * probability, so nothing is dequantized into memory. The query heads sharing a KV head (GQA) are taken up to
     * three at a time, so each key and value vector is loaded and converted once for all of them. Arguments as
     * {@link #attend}, but {@code scores} must hold {@code 3 · n} floats.
     */
    static void attendInt8(float[] q, int qOff, ByteBuffer[] store, int cap, int n, int kvHeads, int groups, int e,
            float[] out, int outOff, float[] scores, HeadPadding pad) {
        ByteBuffer kq = store[0];
        ByteBuffer ks = store[1];
        ByteBuffer vq = store[2];
        ByteBuffer vs = store[3];
        for (int kh = 0; kh < kvHeads; kh++) {
            int base = kh * cap; // entry rows
            int lo = pad == null ? n : pad.from()[kh];
            int gap = pad == null ? 0 : pad.hidden(kh, n);
            int visible = n - gap;
            for (int g0 = 0; g0 < groups; g0 += 3) {
                int m = Math.min(3, groups - g0);
                int h0 = kh * groups + g0;
                int q0 = qOff + h0 * e;
                if (m == 1 && e % BLOCK == 0) { // one query head (MHA, or a group's last): no copies to score
                    int8ScoresOne(q, q0, kq, ks, base, e, visible, lo, gap, scores);
                    normalize(scores, 0, visible, softmaxRow(scores, 0, visible));
                    weighInt8One(vq, vs, base, e, scores, visible, lo, gap, out, outOff + h0 * e);
                    continue;
                }
                int q1 = m > 1 ? q0 + e : q0; // a missing head repeats head 0: same work, result unused
                int q2 = m > 2 ? q0 + 2 * e : q0;
                for (int i = 0; i < visible; i++) {
                    int j = slot(i, lo, gap);
                    int row = (base + j) * e;
                    FloatVector a0 = FloatVector.zero(S);
                    FloatVector a1 = a0;
                    FloatVector a2 = a0;
                    for (int c = 0; c < e; c += S.length()) {
                        FloatVector k = int8s(kq, row + c);
                        a0 = FloatVector.fromArray(S, q, q0 + c).fma(k, a0);
                        a1 = FloatVector.fromArray(S, q, q1 + c).fma(k, a1);
                        a2 = FloatVector.fromArray(S, q, q2 + c).fma(k, a2);
                    }
                    float scale = ks.getFloat((base + j) * Float.BYTES);
                    scores[i] = VectorMath.sum(a0) * scale;
                    scores[n + i] = VectorMath.sum(a1) * scale;
                    scores[2 * n + i] = VectorMath.sum(a2) * scale;
                }
                float i0 = softmaxRow(scores, 0, visible);
                float i1 = softmaxRow(scores, n, visible);
                float i2 = softmaxRow(scores, 2 * n, visible);
                int o0 = outOff + h0 * e;
                if (e % BLOCK == 0) { // (p · inv) · scale, as below: the same bits
                    normalize(scores, 0, visible, i0);
                    normalize(scores, n, visible, i1);
                    normalize(scores, 2 * n, visible, i2);
                    weighInt8(vq, vs, base, e, scores, n, visible, lo, gap, m, out, o0);
                    continue;
                }
                int o1 = m > 1 ? o0 + e : o0;
                int o2 = m > 2 ? o0 + 2 * e : o0;
                java.util.Arrays.fill(out, o0, o0 + m * e, 0f);
                for (int i = 0; i < visible; i++) {
                    int j = slot(i, lo, gap);
                    int row = (base + j) * e;
                    float vScale = vs.getFloat((base + j) * Float.BYTES);
                    FloatVector p0 = FloatVector.broadcast(S, scores[i] * i0 * vScale);
                    FloatVector p1 = FloatVector.broadcast(S, m > 1 ? scores[n + i] * i1 * vScale : 0f);
                    FloatVector p2 = FloatVector.broadcast(S, m > 2 ? scores[2 * n + i] * i2 * vScale : 0f);
                    for (int c = 0; c < e; c += S.length()) {
                        FloatVector v = int8s(vq, row + c);
                        v.fma(p0, FloatVector.fromArray(S, out, o0 + c)).intoArray(out, o0 + c);
                        if (m > 1) {
                            v.fma(p1, FloatVector.fromArray(S, out, o1 + c)).intoArray(out, o1 + c);
                        }
                        if (m > 2) {
                            v.fma(p2, FloatVector.fromArray(S, out, o2 + c)).intoArray(out, o2 + c);
                        }
                    }
                }
            }
        }
    }

    /**
     * One query head's scores over int8 keys, two entries at a time (each entry's dot one chain, as in the three-head
     * loop, so the same bits): a single head would otherwise wait on one FMA chain or compute two copies of itself.
     */
    private static void int8ScoresOne(float[] q, int qh, ByteBuffer kq, ByteBuffer ks, int base, int e, int m, int lo,
            int gap, float[] scores) {
        int i = 0;
        for (; i + 1 < m; i += 2) {
            int j0 = base + slot(i, lo, gap);
            int j1 = base + slot(i + 1, lo, gap);
            FloatVector a = FloatVector.zero(S);
            FloatVector b = a;
            for (int c = 0; c < e; c += S.length()) {
                FloatVector qc = FloatVector.fromArray(S, q, qh + c);
                a = qc.fma(int8s(kq, j0 * e + c), a);
                b = qc.fma(int8s(kq, j1 * e + c), b);
            }
            scores[i] = VectorMath.sum(a) * ks.getFloat(j0 * Float.BYTES);
            scores[i + 1] = VectorMath.sum(b) * ks.getFloat(j1 * Float.BYTES);
        }
        for (; i < m; i++) {
            int j = base + slot(i, lo, gap);
            FloatVector a = FloatVector.zero(S);
            for (int c = 0; c < e; c += S.length()) {
                a = FloatVector.fromArray(S, q, qh + c).fma(int8s(kq, j * e + c), a);
            }
            scores[i] = VectorMath.sum(a) * ks.getFloat(j * Float.BYTES);
        }
    }

    /** One query head's int8 value sum over normalized probabilities, {@value #BLOCK} channels a pass in registers. */
    private static void weighInt8One(ByteBuffer vq, ByteBuffer vs, int base, int e, float[] scores, int m, int lo,
            int gap, float[] out, int o) {
        for (int c = 0; c < e; c += BLOCK) {
            FloatVector x0 = FloatVector.zero(S);
            FloatVector x1 = x0;
            FloatVector x2 = x0;
            FloatVector x3 = x0;
            for (int i = 0; i < m; i++) {
                int j = base + slot(i, lo, gap);
                int at = j * e + c;
                FloatVector p = FloatVector.broadcast(S, scores[i] * vs.getFloat(j * Float.BYTES));
                x0 = int8s(vq, at).fma(p, x0);
                x1 = int8s(vq, at + 8).fma(p, x1);
                x2 = int8s(vq, at + 16).fma(p, x2);
                x3 = int8s(vq, at + 24).fma(p, x3);
            }
            x0.intoArray(out, o + c);
            x1.intoArray(out, o + c + 8);
            x2.intoArray(out, o + c + 16);
            x3.intoArray(out, o + c + 24);
        }
    }

    /**
     * The int8 value sum of up to three query heads ({@code heads}; normalized probabilities in {@code scores} rows
     * {@code 0, n, 2n}, as {@link #weighThree} takes them), 16 channels at a time in registers across the entries:
     * each entry's codes are converted once for all heads, and nothing goes through memory per entry but the codes and
     * the scale. Half of {@link #weighThree}'s block, since the conversion needs registers of its own (32 channels
     * measured 1.2-1.4x slower: spills).
     */
    private static void weighInt8(ByteBuffer vq, ByteBuffer vs, int base, int e, float[] scores, int n, int visible,
            int lo, int gap, int heads, float[] out, int o) {
        for (int c = 0; c < e; c += 16) {
            FloatVector x0 = FloatVector.zero(S);
            FloatVector x1 = x0;
            FloatVector y0 = x0;
            FloatVector y1 = x0;
            FloatVector z0 = x0;
            FloatVector z1 = x0;
            for (int i = 0; i < visible; i++) {
                int j = base + slot(i, lo, gap);
                int at = j * e + c;
                float vScale = vs.getFloat(j * Float.BYTES);
                FloatVector p0 = FloatVector.broadcast(S, scores[i] * vScale);
                FloatVector p1 = FloatVector.broadcast(S, scores[n + i] * vScale);
                FloatVector p2 = FloatVector.broadcast(S, scores[2 * n + i] * vScale);
                FloatVector v = int8s(vq, at);
                x0 = v.fma(p0, x0);
                y0 = v.fma(p1, y0);
                z0 = v.fma(p2, z0);
                v = int8s(vq, at + 8);
                x1 = v.fma(p0, x1);
                y1 = v.fma(p1, y1);
                z1 = v.fma(p2, z1);
            }
            x0.intoArray(out, o + c);
            x1.intoArray(out, o + c + 8);
            if (heads > 1) {
                y0.intoArray(out, o + e + c);
                y1.intoArray(out, o + e + c + 8);
            }
            if (heads > 2) {
                z0.intoArray(out, o + 2 * e + c);
                z1.intoArray(out, o + 2 * e + c + 8);
            }
        }
    }


    /** {@code scores[from, from + n) *= inv}, each product as {@code scores[i] * inv} would round it. */
    private static void normalize(float[] scores, int from, int n, float inv) {
        int j = from;
        for (; j + S.length() <= from + n; j += S.length()) {
            FloatVector.fromArray(S, scores, j).mul(inv).intoArray(scores, j);
        }
        for (; j < from + n; j++) {
            scores[j] *= inv;
        }
    }

    /** {@code scores[from, from + n)} → their softmax's numerators in place; returns 1 / their sum. */
    private static float softmaxRow(float[] scores, int from, int n) {
        int j = from;
        float max = Float.NEGATIVE_INFINITY;
        if (n >= S.length()) { // lanes apart: a scalar max chain waited on its own latency, 10 % of a KIVI call
            FloatVector m = FloatVector.fromArray(S, scores, j);
            for (j += S.length(); j + S.length() <= from + n; j += S.length()) {
                m = m.max(FloatVector.fromArray(S, scores, j));
            }
            m = m.max(m.rearrange(SWAP_HALVES));
            m = m.max(m.rearrange(PAIRS));
            max = m.max(m.rearrange(NEIGHBOURS)).lane(0);
        }
        for (; j < from + n; j++) {
            max = Math.max(max, scores[j]);
        }
        // lane sums, folded once: a fold per vector (three rearrangements) into one scalar chain was 5-8 % of a KIVI
        // call; the per-head kernel's exponentiate sums in the same order, so the blocked kernels keep its bits
        FloatVector lanes = FloatVector.zero(S);
        j = from;
        for (; j + S.length() <= from + n; j += S.length()) {
            FloatVector p = VectorMath.exp(FloatVector.fromArray(S, scores, j).sub(max));
            p.intoArray(scores, j);
            lanes = lanes.add(p);
        }
        float sum = VectorMath.sum(lanes);
        for (; j < from + n; j++) {
            scores[j] = VectorMath.exp(scores[j] - max);
            sum += scores[j];
        }
        return 1f / sum;
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
     * "phase-major" order and are put back in channel order at the end. The query heads sharing a KV head are taken
     * up to three at a time, so each code vector is unpacked once for all of them. The fp16 window is read as fp16.
     * Unpadded stores of the layouts {@link #kiviWordsFit} takes (kvpilot-mini's int4 and int2 among them) go to
     * {@link #attendKiviWords}, 6-10x faster; this byte-per-lane kernel takes the rest and padded (AdaKV) stores.
     *
     * @param n entries visible: the first {@code min(n, quantized)} quantized, the rest from the window (padding,
     *     which may lie in either, skipped)
     * @param scores at least {@code 3·n} floats
     * @param scratch at least {@code 7·e} floats, this thread's
     */
    static void attendKivi(float[] q, int qOff, ByteBuffer[] store, int cap, int quantized, int window, int bits,
            int groupSize, int n, int kvHeads, int groups, int e, float[] out, int outOff, float[] scores,
            float[] scratch, HeadPadding pad) {
        // the word kernel takes quantized tokens two at a time (a word of two rows, or two rows sharing query reads)
        if (pad == null && kiviWordsFit(e, bits, groupSize) && Math.min(n, quantized) % 2 == 0) {
            attendKiviWords(q, qOff, store, cap, quantized, window, bits, groupSize, n, kvHeads, groups, e, out,
                    outOff, scores);
            return;
        }
        int per = 8 / bits;
        int packed = e / per;
        int mask = (1 << bits) - 1;
        int channelGroups = e / groupSize;
        int nq = Math.min(n, quantized);
        // scratch: scaled queries (3 heads, phase-major), value accumulators (3, phase-major), Σ p z (3 × groups)
        int qs = 0;
        int acc = 3 * e;
        int zAcc = 6 * e;
        for (int kh = 0; kh < kvHeads; kh++) {
            int lo = pad == null ? n : pad.from()[kh]; // slots [lo, hi) are padding: skipped, scores compacted
            int gap = pad == null ? 0 : pad.hidden(kh, n);
            int hi = lo + gap;
            int visible = n - gap;
            for (int g0 = 0; g0 < groups; g0 += 3) {
                int m = Math.min(3, groups - g0);
                int h0 = kh * groups + g0;
                float qz0 = 0;
                float qz1 = 0;
                float qz2 = 0;
                for (int j0 = 0; j0 < nq; j0 += groupSize) {
                    if (j0 >= lo && Math.min(j0 + groupSize, nq) <= hi) {
                        continue; // a group of padding only
                    }
                    int param = (kh * cap + j0) / groupSize * e * 2; // bytes into the key scales and zeros
                    qz0 = qz1 = qz2 = 0;
                    for (int c = 0; c < e; c++) {
                        float scale = Half.toFloat(store[1].getShort(param + 2 * c));
                        float zero = Half.toFloat(store[2].getShort(param + 2 * c));
                        int at = (c % per) * packed + c / per;
                        int qc = qOff + h0 * e + c;
                        scratch[qs + at] = q[qc] * scale;
                        qz0 += q[qc] * zero;
                        if (m > 1) {
                            scratch[qs + e + at] = q[qc + e] * scale;
                            qz1 += q[qc + e] * zero;
                        }
                        if (m > 2) {
                            scratch[qs + 2 * e + at] = q[qc + 2 * e] * scale;
                            qz2 += q[qc + 2 * e] * zero;
                        }
                    }
                    int q1 = m > 1 ? qs + e : qs; // a missing head repeats head 0: same work, result unused
                    int q2 = m > 2 ? qs + 2 * e : qs;
                    for (int j = j0, end = Math.min(j0 + groupSize, nq); j < end; j++) {
                        if (j >= lo && j < hi) {
                            continue;
                        }
                        int vi = j < lo ? j : j - gap;
                        int row = (kh * cap + j) * packed;
                        FloatVector a0 = FloatVector.zero(S);
                        FloatVector a1 = a0;
                        FloatVector a2 = a0;
                        for (int i = 0; i < packed; i += BYTES.length()) {
                            IntVector codes = widened(store[0], row + i);
                            for (int ph = 0; ph < per; ph++) {
                                FloatVector c = unpacked(codes, bits * ph, mask);
                                int at = ph * packed + i;
                                a0 = FloatVector.fromArray(S, scratch, qs + at).fma(c, a0);
                                a1 = FloatVector.fromArray(S, scratch, q1 + at).fma(c, a1);
                                a2 = FloatVector.fromArray(S, scratch, q2 + at).fma(c, a2);
                            }
                        }
                        scores[vi] = VectorMath.sum(a0) + qz0;
                        scores[n + vi] = VectorMath.sum(a1) + qz1;
                        scores[2 * n + vi] = VectorMath.sum(a2) + qz2;
                    }
                }
                int qa = qOff + h0 * e;
                int qb = m > 1 ? qa + e : qa;
                int qc = m > 2 ? qa + 2 * e : qa;
                for (int j = nq; j < n; j++) { // the window (j >= quantized here)
                    if (j >= lo && j < hi) {
                        continue;
                    }
                    int vi = j < lo ? j : j - gap;
                    int row = (kh * window + j - quantized) * e * 2;
                    FloatVector a0 = FloatVector.zero(S);
                    FloatVector a1 = a0;
                    FloatVector a2 = a0;
                    for (int c = 0; c < e; c += S.length()) {
                        FloatVector k = halves(store[6], row + 2 * c);
                        a0 = FloatVector.fromArray(S, q, qa + c).fma(k, a0);
                        a1 = FloatVector.fromArray(S, q, qb + c).fma(k, a1);
                        a2 = FloatVector.fromArray(S, q, qc + c).fma(k, a2);
                    }
                    scores[vi] = VectorMath.sum(a0);
                    scores[n + vi] = VectorMath.sum(a1);
                    scores[2 * n + vi] = VectorMath.sum(a2);
                }
                float i0 = softmaxRow(scores, 0, visible);
                float i1 = softmaxRow(scores, n, visible);
                float i2 = softmaxRow(scores, 2 * n, visible);
                java.util.Arrays.fill(scratch, acc, zAcc + 3 * channelGroups, 0f);
                int acc1 = acc + e;
                int acc2 = acc + 2 * e;
                for (int j = 0; j < nq; j++) {
                    if (j >= lo && j < hi) {
                        continue;
                    }
                    int vi = j < lo ? j : j - gap;
                    int slot = kh * cap + j;
                    float p0 = scores[vi] * i0;
                    float p1 = scores[n + vi] * i1;
                    float p2 = scores[2 * n + vi] * i2;
                    int row = slot * packed;
                    int param = slot * channelGroups * 2;
                    for (int i = 0; i < packed; i += BYTES.length()) {
                        int cg = i * per / groupSize;
                        float scale = Half.toFloat(store[4].getShort(param + 2 * cg));
                        FloatVector s0 = FloatVector.broadcast(S, p0 * scale);
                        FloatVector s1 = FloatVector.broadcast(S, p1 * scale);
                        FloatVector s2 = FloatVector.broadcast(S, p2 * scale);
                        IntVector codes = widened(store[3], row + i);
                        for (int ph = 0; ph < per; ph++) {
                            FloatVector c = unpacked(codes, bits * ph, mask);
                            int at = ph * packed + i;
                            c.fma(s0, FloatVector.fromArray(S, scratch, acc + at)).intoArray(scratch, acc + at);
                            if (m > 1) {
                                c.fma(s1, FloatVector.fromArray(S, scratch, acc1 + at)).intoArray(scratch, acc1 + at);
                            }
                            if (m > 2) {
                                c.fma(s2, FloatVector.fromArray(S, scratch, acc2 + at)).intoArray(scratch, acc2 + at);
                            }
                        }
                    }
                    for (int cg = 0; cg < channelGroups; cg++) {
                        float zero = Half.toFloat(store[5].getShort(param + 2 * cg));
                        scratch[zAcc + cg] += p0 * zero;
                        scratch[zAcc + channelGroups + cg] += p1 * zero;
                        scratch[zAcc + 2 * channelGroups + cg] += p2 * zero;
                    }
                }
                for (int g = 0; g < m; g++) {
                    int oh = outOff + (h0 + g) * e;
                    int ag = acc + g * e;
                    int zg = zAcc + g * channelGroups;
                    for (int c = 0; c < e; c++) {
                        out[oh + c] = scratch[ag + (c % per) * packed + c / per] + scratch[zg + c / groupSize];
                    }
                    float inv = g == 0 ? i0 : g == 1 ? i1 : i2;
                    for (int j = nq; j < n; j++) {
                        if (j >= lo && j < hi) {
                            continue;
                        }
                        int row = (kh * window + j - quantized) * e * 2;
                        FloatVector pv = FloatVector.broadcast(S, scores[g * n + (j < lo ? j : j - gap)] * inv);
                        for (int c = 0; c < e; c += S.length()) {
                            halves(store[7], row + 2 * c).fma(pv, FloatVector.fromArray(S, out, oh + c))
                                    .intoArray(out, oh + c);
                        }
                    }
                }
            }
        }
    }

    /**
     * {@link #attendKivi} for layouts {@link #kiviWordsFit} takes. A head's codes are read as a stream of 32-byte words,
     * eight int lanes each: a token's row spans one or more whole words, or (a row of 16 bytes: int2 at head dim 64,
     * int4 at 32) a word holds two tokens, lanes 0-3 and 4-7. Lane {@code ℓ} of a row holds channels
     * {@code ℓ·perLane + k}, code {@code k} at bit {@code bits·k}, and "phase" {@code k} is the float vector of the
     * lanes' {@code k}-th codes ({@link #code}: a shift, a mask and a conversion). Scaled queries and value
     * accumulators are laid out by word, phase and lane ({@link #phaseLane}) and put back in channel order at the end.
     *
     * <p>Where the time went (AttentionKernelBenchmark: 300-450 ns per entry of kvpilot-mini's head group, 5-8x
     * dense): the value sum accumulated every phase of three heads into memory once per token, a load, FMA and store
     * per vector; each token's key dot ended in three lane sums; int2 at head dim 64 fell to the byte-per-lane path.
     * Now the probabilities are normalized in place; each chunk's lane scales times its probabilities (and lane zeros
     * into {@code Σ p z}) are formed once into a small table that stays in L1 ({@link #kiviLaneScales}), and
     * {@link #kiviValueBlock} sums four phases of three heads over the chunk's words in twelve registers; key dots run
     * six FMA chains into an accumulator table that {@link #kiviKeySums} sums eight tokens at a time. 45-47 ns per
     * entry, int4 and int2, about dense's. Every vector stays inside the method that makes it: a vector passed to or
     * returned from a call C2 does not inline is boxed, and the boxing reaches into the loop.
     */
    private static void attendKiviWords(float[] q, int qOff, ByteBuffer[] store, int cap, int quantized, int window,
            int bits, int groupSize, int n, int kvHeads, int groups, int e, float[] out, int outOff, float[] scores) {
        int perLane = 32 / bits; // codes per int lane
        int packed = e * bits / 8; // bytes per token row
        int lanesPerToken = packed / 4;
        int tokensPerWord = Math.max(1, S.length() / lanesPerToken); // 1, or 2 for 16-byte rows
        int wordsPerToken = Math.max(1, lanesPerToken / S.length());
        int qw = wordsPerToken * perLane * S.length(); // floats of one head's scaled query or value accumulators
        int channelGroups = e / groupSize;
        int nq = Math.min(n, quantized);
        int chunkWords = CHUNK * packed / WORD_BYTES;
        // scratch: scaled queries (3 heads), value accumulators (3), lane Σ p z (3), the chunk's value scales and
        // zeros as floats, its probabilities (3 rows), its lane scales times probabilities (3 vectors a word), and
        // the scaled queries in channel order, or a key group's accumulators
        int acc = 3 * qw;
        int zAcc = 6 * qw;
        int sf = zAcc + 3 * wordsPerToken * S.length();
        int zf = sf + CHUNK * channelGroups + S.length();
        int pf = zf + CHUNK * channelGroups + S.length();
        int sv = pf + 3 * (CHUNK + S.length());
        int tq = sv + chunkWords * 3 * S.length();
        float[] scratch = lanes(tq + 3 * Math.max(e, groupSize * S.length()));
        for (int kh = 0; kh < kvHeads; kh++) {
            for (int g0 = 0; g0 < groups; g0 += 3) {
                int m = Math.min(3, groups - g0);
                int h0 = kh * groups + g0;
                for (int g = 0; g < 3; g++) { // the queries in phaseLane order, in the value accumulators' place
                    int from = qOff + (h0 + (g < m ? g : 0)) * e; // a missing head repeats head 0
                    toPhaseLanes(q, from, e, perLane, lanesPerToken, scratch, acc + g * qw);
                }
                for (int j0 = 0; j0 < nq; j0 += groupSize) { // the group's scales in the lane-scale table's place
                    kiviKeyGroup(q, qOff + h0 * e, m, store, kh, cap, j0, Math.min(j0 + groupSize, nq), bits,
                            groupSize, n, e, scores, scratch, qw, acc, sv, tq);
                }
                int qa = qOff + h0 * e;
                windowScores(q, qa, m > 1 ? qa + e : qa, m > 2 ? qa + 2 * e : qa, store[6], kh, window, quantized,
                        nq, n, e, scores);
                for (int g = 0; g < 3; g++) { // rows of missing heads hold copies: same work, result unused
                    normalize(scores, g * n, n, softmaxRow(scores, g * n, n));
                }
                java.util.Arrays.fill(scratch, acc, sf, 0f);
                for (int j0 = 0; j0 < nq; j0 += CHUNK) {
                    int tokens = Math.min(CHUNK, nq - j0);
                    int words = tokens * packed / WORD_BYTES;
                    kiviLaneScales(store[4], store[5], kh * cap + j0, tokens, channelGroups, groupSize / perLane,
                            lanesPerToken, wordsPerToken, scores, n, j0, scratch, sf, zf, pf, sv, zAcc);
                    int codes = (kh * cap + j0) * packed;
                    for (int u = 0; u < wordsPerToken; u++) {
                        for (int k = 0; k < perLane; k += 4) {
                            kiviValueBlock(store[3], codes + u * WORD_BYTES, words / wordsPerToken,
                                    wordsPerToken * WORD_BYTES, scratch, sv + u * 3 * S.length(),
                                    wordsPerToken * 3 * S.length(), bits, k, acc + phaseLane(u, k, 0, perLane), qw);
                        }
                    }
                }
                for (int g = 0; g < m; g++) {
                    int oh = outOff + (h0 + g) * e;
                    for (int c = 0; c < e; c++) {
                        int lane = c / perLane; // of the token's row
                        int u = lane / S.length();
                        int at = acc + g * qw + phaseLane(u, c % perLane, lane % S.length(), perLane);
                        int z = zAcc + g * wordsPerToken * S.length() + u * S.length() + lane % S.length();
                        float v = scratch[at];
                        float zero = scratch[z];
                        if (tokensPerWord == 2) { // the word's second token's lanes
                            v += scratch[at + lanesPerToken];
                            zero += scratch[z + lanesPerToken];
                        }
                        out[oh + c] = v + zero;
                    }
                }
                windowValues(store[7], kh, window, quantized, nq, n, e, scores, m, out, outOff + h0 * e);
            }
        }
    }

    /**
     * {@code src[from, +e)}, in channel order, into {@code dst} from {@code at} in {@link #phaseLane} order (each lane
     * twice where a word holds two tokens' rows). Shifts only: {@code perLane} and {@code lanesPerToken} are powers of 2.
     */
    private static void toPhaseLanes(float[] src, int from, int e, int perLane, int lanesPerToken, float[] dst,
            int at) {
        int perLaneBits = Integer.numberOfTrailingZeros(perLane);
        int twin = lanesPerToken < S.length() ? lanesPerToken : 0; // the word's second token
        for (int c = 0; c < e; c++) {
            int lane = c >>> perLaneBits;
            int to = at + ((((lane >>> 3) << perLaneBits) + (c & (perLane - 1))) << 3) + (lane & 7);
            dst[to] = src[from + c];
            dst[to + twin] = src[from + c];
        }
    }

    /**
     * {@code dst[at + 8k + L] = src[from + 8L + k]}: an 8x8 transpose in registers (swapping halves, pairs and
     * neighbours between rows: 24 rearrangements and 24 blends), which is {@link #toPhaseLanes} for eight codes a lane
     * and one word a row, where the scalar moves of a key group's scales were 7-10 % of an int4 call.
     */
    private static void transposeEight(float[] src, int from, float[] dst, int at) {
        FloatVector r0 = FloatVector.fromArray(S, src, from);
        FloatVector r1 = FloatVector.fromArray(S, src, from + 8);
        FloatVector r2 = FloatVector.fromArray(S, src, from + 16);
        FloatVector r3 = FloatVector.fromArray(S, src, from + 24);
        FloatVector r4 = FloatVector.fromArray(S, src, from + 32);
        FloatVector r5 = FloatVector.fromArray(S, src, from + 40);
        FloatVector r6 = FloatVector.fromArray(S, src, from + 48);
        FloatVector r7 = FloatVector.fromArray(S, src, from + 56);
        FloatVector a0 = r0.blend(r4.rearrange(SWAP_HALVES), HIGH_LANES);
        FloatVector a4 = r4.blend(r0.rearrange(SWAP_HALVES), LOW_LANES);
        FloatVector a1 = r1.blend(r5.rearrange(SWAP_HALVES), HIGH_LANES);
        FloatVector a5 = r5.blend(r1.rearrange(SWAP_HALVES), LOW_LANES);
        FloatVector a2 = r2.blend(r6.rearrange(SWAP_HALVES), HIGH_LANES);
        FloatVector a6 = r6.blend(r2.rearrange(SWAP_HALVES), LOW_LANES);
        FloatVector a3 = r3.blend(r7.rearrange(SWAP_HALVES), HIGH_LANES);
        FloatVector a7 = r7.blend(r3.rearrange(SWAP_HALVES), LOW_LANES);
        FloatVector b0 = a0.blend(a2.rearrange(PAIRS), ODD_PAIRS);
        FloatVector b2 = a2.blend(a0.rearrange(PAIRS), EVEN_PAIRS);
        FloatVector b1 = a1.blend(a3.rearrange(PAIRS), ODD_PAIRS);
        FloatVector b3 = a3.blend(a1.rearrange(PAIRS), EVEN_PAIRS);
        FloatVector b4 = a4.blend(a6.rearrange(PAIRS), ODD_PAIRS);
        FloatVector b6 = a6.blend(a4.rearrange(PAIRS), EVEN_PAIRS);
        FloatVector b5 = a5.blend(a7.rearrange(PAIRS), ODD_PAIRS);
        FloatVector b7 = a7.blend(a5.rearrange(PAIRS), EVEN_PAIRS);
        b0.blend(b1.rearrange(NEIGHBOURS), ODD_LANES).intoArray(dst, at);
        b1.blend(b0.rearrange(NEIGHBOURS), EVEN_LANES).intoArray(dst, at + 8);
        b2.blend(b3.rearrange(NEIGHBOURS), ODD_LANES).intoArray(dst, at + 16);
        b3.blend(b2.rearrange(NEIGHBOURS), EVEN_LANES).intoArray(dst, at + 24);
        b4.blend(b5.rearrange(NEIGHBOURS), ODD_LANES).intoArray(dst, at + 32);
        b5.blend(b4.rearrange(NEIGHBOURS), EVEN_LANES).intoArray(dst, at + 40);
        b6.blend(b7.rearrange(NEIGHBOURS), ODD_LANES).intoArray(dst, at + 48);
        b7.blend(b6.rearrange(NEIGHBOURS), EVEN_LANES).intoArray(dst, at + 56);
    }

    /** Where word {@code u} of a row, phase {@code k}, lane {@code L} sits in a head's scaled query or accumulators. */
    private static int phaseLane(int u, int k, int lane, int perLane) {
        return (u * perLane + k) * S.length() + lane;
    }

    /**
     * The scores of quantized tokens {@code [j0, end)} of one key group for up to 3 query heads from {@code qh}: the
     * queries (in {@link #phaseLane} order once per call, at {@code scratch[qt]}) times the group's per-channel scales
     * (moved into that order at {@code st}: e scalar moves a group rather than 3e, one set per head) into
     * {@code scratch[0, 3·qw)}, then a dot with each token's raw codes, plus the query's dot with the group's zeros.
     * Kept apart from the caller so that C2 inlines every vector operation of the loops (in one large method it stops
     * at NodeCountInliningCutoff and boxes).
     */
    private static void kiviKeyGroup(float[] q, int qh, int m, ByteBuffer[] store, int kh, int cap, int j0, int end,
            int bits, int groupSize, int n, int e, float[] scores, float[] scratch, int qw, int qt, int st, int tq) {
        int perLane = 32 / bits;
        int packed = e * bits / 8;
        int lanesPerToken = packed / 4;
        int param = (kh * cap + j0) / groupSize * e * 2; // bytes into the key scales and zeros
        int qb = m > 1 ? qh + e : qh; // a missing head repeats head 0: same work, result unused
        int qc = m > 2 ? qh + 2 * e : qh;
        FloatVector z0 = FloatVector.zero(S);
        FloatVector z1 = z0;
        FloatVector z2 = z0;
        for (int c = 0; c < e; c += S.length()) { // scales in channel order into scratch[tq, +e); zeros' dots
            halves(store[1], param + 2 * c).intoArray(scratch, tq + c);
            FloatVector zero = halves(store[2], param + 2 * c);
            z0 = FloatVector.fromArray(S, q, qh + c).fma(zero, z0);
            z1 = FloatVector.fromArray(S, q, qb + c).fma(zero, z1);
            z2 = FloatVector.fromArray(S, q, qc + c).fma(zero, z2);
        }
        float qz0 = VectorMath.sum(z0);
        float qz1 = VectorMath.sum(z1);
        float qz2 = VectorMath.sum(z2);
        if (perLane == S.length() && lanesPerToken >= S.length()) { // int4, one token a word: 8x8 blocks
            for (int c = 0; c < e; c += S.length() * S.length()) {
                transposeEight(scratch, tq + c, scratch, st + c);
            }
        } else {
            toPhaseLanes(scratch, tq, e, perLane, lanesPerToken, scratch, st);
        }
        for (int v = 0; v < qw; v += S.length()) { // the queries, already in phaseLane order, times the scales
            FloatVector scale = FloatVector.fromArray(S, scratch, st + v);
            FloatVector.fromArray(S, scratch, qt + v).mul(scale).intoArray(scratch, v);
            FloatVector.fromArray(S, scratch, qt + qw + v).mul(scale).intoArray(scratch, qw + v);
            FloatVector.fromArray(S, scratch, qt + 2 * qw + v).mul(scale).intoArray(scratch, 2 * qw + v);
        }
        int q1 = m > 1 ? qw : 0; // a missing head repeats head 0: same work, result unused
        int q2 = m > 2 ? 2 * qw : 0;
        int row = (kh * cap + j0) * packed;
        if (lanesPerToken < S.length()) {
            kiviKeyPairs(store[0], row, end - j0, bits, scratch, q1, q2, tq);
            kiviKeyPairSums(scratch, tq, end - j0, qz0, qz1, qz2, scores, n, j0);
        } else {
            for (int i = 0; i < packed; i += WORD_BYTES) {
                kiviKeyRows(store[0], row + i, end - j0, packed, bits, scratch, i / WORD_BYTES * perLane * S.length(),
                        q1, q2, tq, i == 0); // the table overwrites the channel-order queries, no longer needed
            }
            kiviKeySums(scratch, tq, end - j0, qz0, qz1, qz2, scores, n, j0);
        }
    }

    /**
     * {@link #kiviKeyGroup}'s dots for rows of whole words, word {@code u} of each row ({@code scratch}'s scaled
     * queries from {@code qs}), two tokens at a time (six FMA chains, each query vector read once for both), left as
     * accumulator vectors in {@code scratch[table + 24t + 8h]} (written for the first word, added for the rest) for
     * {@link #kiviKeySums}. A row's words are taken in passes of their own rather than by an inner loop per token,
     * which C2 compiled 3x slower (measured). {@code tokens} is even.
     */
    private static void kiviKeyRows(ByteBuffer codes, int row0, int tokens, int packed, int bits, float[] scratch,
            int qs, int q1, int q2, int table, boolean first) {
        int perLane = 32 / bits;
        int mask = (1 << bits) - 1;
        for (int t = 0; t < tokens; t += 2) {
            IntVector words = IntVector.fromByteBuffer(WORDS, codes, row0 + t * packed, ORDER);
            IntVector next = IntVector.fromByteBuffer(WORDS, codes, row0 + (t + 1) * packed, ORDER);
            FloatVector a0 = FloatVector.zero(S);
            FloatVector a1 = a0;
            FloatVector a2 = a0;
            FloatVector b0 = a0;
            FloatVector b1 = a0;
            FloatVector b2 = a0;
            for (int k = 0; k < perLane; k++) {
                FloatVector c = code(words, bits * k, mask);
                FloatVector d = code(next, bits * k, mask);
                int at = qs + k * S.length();
                FloatVector x = FloatVector.fromArray(S, scratch, at);
                a0 = x.fma(c, a0);
                b0 = x.fma(d, b0);
                x = FloatVector.fromArray(S, scratch, q1 + at);
                a1 = x.fma(c, a1);
                b1 = x.fma(d, b1);
                x = FloatVector.fromArray(S, scratch, q2 + at);
                a2 = x.fma(c, a2);
                b2 = x.fma(d, b2);
            }
            int at = table + t * 3 * S.length();
            if (!first) {
                a0 = a0.add(FloatVector.fromArray(S, scratch, at));
                a1 = a1.add(FloatVector.fromArray(S, scratch, at + 8));
                a2 = a2.add(FloatVector.fromArray(S, scratch, at + 16));
                b0 = b0.add(FloatVector.fromArray(S, scratch, at + 24));
                b1 = b1.add(FloatVector.fromArray(S, scratch, at + 32));
                b2 = b2.add(FloatVector.fromArray(S, scratch, at + 40));
            }
            a0.intoArray(scratch, at);
            a1.intoArray(scratch, at + 8);
            a2.intoArray(scratch, at + 16);
            b0.intoArray(scratch, at + 24);
            b1.intoArray(scratch, at + 32);
            b2.intoArray(scratch, at + 40);
        }
    }

    /**
     * The scores {@code [j0, j0 + tokens)} of three heads from {@link #kiviKeyRows}'s accumulators plus the zeros' dots
     * {@code qz}: eight tokens' vectors of a head are summed at once by a transposing tree (halves, pairs, neighbours:
     * seven rearrangements and adds, and blends, where eight lane sums take 24 rearrangements), whose result is the
     * eight scores in order. A tail of fewer than eight tokens is summed one by one.
     */
    private static void kiviKeySums(float[] scratch, int table, int tokens, float qz0, float qz1, float qz2,
            float[] scores, int n, int j0) {
        int t = 0;
        for (; t + S.length() <= tokens; t += S.length()) {
            for (int h = 0; h < 3; h++) {
                int at = table + t * 3 * S.length() + h * S.length();
                int step = 3 * S.length();
                FloatVector v0 = FloatVector.fromArray(S, scratch, at);
                FloatVector v4 = FloatVector.fromArray(S, scratch, at + 4 * step);
                FloatVector x0 = v0.blend(v4, HIGH_LANES).add(v4.blend(v0, HIGH_LANES).rearrange(SWAP_HALVES));
                FloatVector v2 = FloatVector.fromArray(S, scratch, at + 2 * step);
                FloatVector v6 = FloatVector.fromArray(S, scratch, at + 6 * step);
                FloatVector x2 = v2.blend(v6, HIGH_LANES).add(v6.blend(v2, HIGH_LANES).rearrange(SWAP_HALVES));
                FloatVector y0 = x0.blend(x2, ODD_PAIRS).add(x2.blend(x0, ODD_PAIRS).rearrange(PAIRS));
                FloatVector v1 = FloatVector.fromArray(S, scratch, at + step);
                FloatVector v5 = FloatVector.fromArray(S, scratch, at + 5 * step);
                FloatVector x1 = v1.blend(v5, HIGH_LANES).add(v5.blend(v1, HIGH_LANES).rearrange(SWAP_HALVES));
                FloatVector v3 = FloatVector.fromArray(S, scratch, at + 3 * step);
                FloatVector v7 = FloatVector.fromArray(S, scratch, at + 7 * step);
                FloatVector x3 = v3.blend(v7, HIGH_LANES).add(v7.blend(v3, HIGH_LANES).rearrange(SWAP_HALVES));
                FloatVector y1 = x1.blend(x3, ODD_PAIRS).add(x3.blend(x1, ODD_PAIRS).rearrange(PAIRS));
                FloatVector sums = y0.blend(y1, ODD_LANES).add(y1.blend(y0, ODD_LANES).rearrange(NEIGHBOURS));
                float qz = h == 0 ? qz0 : h == 1 ? qz1 : qz2;
                sums.add(qz).intoArray(scores, h * n + j0 + t);
            }
        }
        for (; t < tokens; t++) {
            int at = table + t * 3 * S.length();
            scores[j0 + t] = VectorMath.sum(FloatVector.fromArray(S, scratch, at)) + qz0;
            scores[n + j0 + t] = VectorMath.sum(FloatVector.fromArray(S, scratch, at + 8)) + qz1;
            scores[2 * n + j0 + t] = VectorMath.sum(FloatVector.fromArray(S, scratch, at + 16)) + qz2;
        }
    }

    /**
     * {@link #kiviKeyGroup}'s dots for 16-byte rows, two tokens a word: lanes 0-3 and 4-7 of each accumulator are the
     * two tokens' partial dots, left in {@code scratch[table + 24w + 8h]} for word {@code w} and summed by
     * {@link #kiviKeyPairSums}. Even and odd phases accumulate apart (six FMA chains, not three).
     */
    private static void kiviKeyPairs(ByteBuffer codes, int row0, int tokens, int bits, float[] scratch, int q1, int q2,
            int table) {
        int perLane = 32 / bits;
        int mask = (1 << bits) - 1;
        for (int t = 0; t < tokens; t += 2) {
            IntVector words = IntVector.fromByteBuffer(WORDS, codes, row0 + t * (WORD_BYTES / 2), ORDER);
            FloatVector a0 = FloatVector.zero(S);
            FloatVector a1 = a0;
            FloatVector a2 = a0;
            FloatVector b0 = a0;
            FloatVector b1 = a0;
            FloatVector b2 = a0;
            for (int k = 0; k < perLane; k += 2) { // the word shifts down two codes a step: one shift count
                FloatVector c = (FloatVector) words.and(mask).convert(VectorOperators.I2F, 0);
                FloatVector d = (FloatVector) words.lanewise(VectorOperators.LSHR, bits).and(mask)
                        .convert(VectorOperators.I2F, 0);
                words = words.lanewise(VectorOperators.LSHR, 2 * bits);
                int at = k * S.length();
                a0 = FloatVector.fromArray(S, scratch, at).fma(c, a0);
                a1 = FloatVector.fromArray(S, scratch, q1 + at).fma(c, a1);
                a2 = FloatVector.fromArray(S, scratch, q2 + at).fma(c, a2);
                b0 = FloatVector.fromArray(S, scratch, at + 8).fma(d, b0);
                b1 = FloatVector.fromArray(S, scratch, q1 + at + 8).fma(d, b1);
                b2 = FloatVector.fromArray(S, scratch, q2 + at + 8).fma(d, b2);
            }
            int at = table + t / 2 * 3 * S.length();
            a0.add(b0).intoArray(scratch, at);
            a1.add(b1).intoArray(scratch, at + 8);
            a2.add(b2).intoArray(scratch, at + 16);
        }
    }

    /**
     * {@link #kiviKeySums} for {@link #kiviKeyPairs}' accumulators: four words (eight tokens) of a head at once by
     * pairs and neighbours, which leaves the scores in order 0, 2, 4, 6, 1, 3, 5, 7, put right by one rearrangement.
     */
    private static void kiviKeyPairSums(float[] scratch, int table, int tokens, float qz0, float qz1, float qz2,
            float[] scores, int n, int j0) {
        int t = 0;
        int step = 3 * S.length(); // a word's three vectors
        for (; t + S.length() <= tokens; t += S.length()) {
            for (int h = 0; h < 3; h++) {
                int at = table + t / 2 * step + h * S.length();
                FloatVector v0 = FloatVector.fromArray(S, scratch, at);
                FloatVector v2 = FloatVector.fromArray(S, scratch, at + 2 * step);
                FloatVector y0 = v0.blend(v2, ODD_PAIRS).add(v2.blend(v0, ODD_PAIRS).rearrange(PAIRS));
                FloatVector v1 = FloatVector.fromArray(S, scratch, at + step);
                FloatVector v3 = FloatVector.fromArray(S, scratch, at + 3 * step);
                FloatVector y1 = v1.blend(v3, ODD_PAIRS).add(v3.blend(v1, ODD_PAIRS).rearrange(PAIRS));
                FloatVector sums = y0.blend(y1, ODD_LANES).add(y1.blend(y0, ODD_LANES).rearrange(NEIGHBOURS));
                float qz = h == 0 ? qz0 : h == 1 ? qz1 : qz2;
                sums.rearrange(UNZIP).add(qz).intoArray(scores, h * n + j0 + t);
            }
        }
        for (; t < tokens; t += 2) {
            for (int h = 0; h < 3; h++) {
                FloatVector a = FloatVector.fromArray(S, scratch, table + t / 2 * step + h * S.length());
                a = a.add(a.rearrange(PAIRS));
                a = a.add(a.rearrange(NEIGHBOURS));
                float qz = h == 0 ? qz0 : h == 1 ? qz1 : qz2;
                scores[h * n + j0 + t] = a.lane(0) + qz;
                scores[h * n + j0 + t + 1] = a.lane(4) + qz;
            }
        }
    }

    /**
     * For {@code tokens} quantized tokens from slot {@code slot0} (a chunk of at most {@value #CHUNK}, scores from
     * {@code j0}): each word's lane scales times the three heads' normalized probabilities into
     * {@code scratch[sv + 24w, +24)}, and the lane zeros times the probabilities added to the lane sums
     * {@code scratch[zAcc, +24·wordsPerToken)}. A lane's scale is value group {@code lane / lanesPerGroup} of the row
     * and its probability that of token {@code lane / lanesPerToken}: a read of consecutive floats spread by a
     * rearrangement ({@link #expand}), after the chunk's fp16 scales, zeros and probabilities are copied to floats
     * (so those reads stay in bounds).
     */
    private static void kiviLaneScales(ByteBuffer scales, ByteBuffer zeros, int slot0, int tokens, int channelGroups,
            int lanesPerGroup, int lanesPerToken, int wordsPerToken, float[] scores, int n, int j0, float[] scratch,
            int sf, int zf, int pf, int sv, int zAcc) {
        int count = tokens * channelGroups;
        int param = slot0 * channelGroups * 2; // bytes
        int i = 0;
        for (; i + S.length() <= count; i += S.length()) {
            halves(scales, param + 2 * i).intoArray(scratch, sf + i);
            halves(zeros, param + 2 * i).intoArray(scratch, zf + i);
        }
        for (; i < count; i++) {
            scratch[sf + i] = Half.toFloat(scales.getShort(param + 2 * i));
            scratch[zf + i] = Half.toFloat(zeros.getShort(param + 2 * i));
        }
        int pRow = CHUNK + S.length();
        for (int h = 0; h < 3; h++) {
            System.arraycopy(scores, h * n + j0, scratch, pf + h * pRow, tokens);
        }
        VectorShuffle<Float> byGroup = expand(lanesPerGroup);
        VectorShuffle<Float> byToken = expand(lanesPerToken);
        int words = tokens * lanesPerToken / S.length();
        int zRow = wordsPerToken * S.length();
        int groupBits = Integer.numberOfTrailingZeros(lanesPerGroup); // powers of 2: shifts, not divisions
        int tokenBits = Integer.numberOfTrailingZeros(lanesPerToken);
        for (int u = 0; u < wordsPerToken; u++) {
            int z = zAcc + u * S.length();
            FloatVector z0 = FloatVector.fromArray(S, scratch, z);
            FloatVector z1 = FloatVector.fromArray(S, scratch, z + zRow);
            FloatVector z2 = FloatVector.fromArray(S, scratch, z + 2 * zRow);
            for (int w = u; w < words; w += wordsPerToken) {
                int lane = w * S.length(); // of the chunk
                int group = lane >>> groupBits;
                FloatVector ls = FloatVector.fromArray(S, scratch, sf + group).rearrange(byGroup);
                FloatVector lz = FloatVector.fromArray(S, scratch, zf + group).rearrange(byGroup);
                int t = pf + (lane >>> tokenBits);
                FloatVector p0;
                FloatVector p1;
                FloatVector p2;
                if (lanesPerToken >= S.length()) { // a word of one token: its probabilities broadcast
                    p0 = FloatVector.broadcast(S, scratch[t]);
                    p1 = FloatVector.broadcast(S, scratch[t + pRow]);
                    p2 = FloatVector.broadcast(S, scratch[t + 2 * pRow]);
                } else {
                    p0 = FloatVector.fromArray(S, scratch, t).rearrange(byToken);
                    p1 = FloatVector.fromArray(S, scratch, t + pRow).rearrange(byToken);
                    p2 = FloatVector.fromArray(S, scratch, t + 2 * pRow).rearrange(byToken);
                }
                int s = sv + w * 3 * S.length();
                ls.mul(p0).intoArray(scratch, s);
                ls.mul(p1).intoArray(scratch, s + S.length());
                ls.mul(p2).intoArray(scratch, s + 2 * S.length());
                z0 = lz.fma(p0, z0);
                z1 = lz.fma(p1, z1);
                z2 = lz.fma(p2, z2);
            }
            z0.intoArray(scratch, z);
            z1.intoArray(scratch, z + zRow);
            z2.intoArray(scratch, z + 2 * zRow);
        }
    }

    /** Lane {@code L} takes element {@code L / r} of the vector read ({@code r} a power of 2; 8 or more: element 0). */
    private static VectorShuffle<Float> expand(int r) {
        return r >= 8 ? EXPAND[3] : r == 4 ? EXPAND[2] : r == 2 ? EXPAND[1] : EXPAND[0];
    }

    /**
     * Phases {@code k .. k+3} of three heads' value sums over {@code words} words of codes from byte {@code at}, every
     * {@code stride} bytes, in twelve register accumulators added at the end to {@code scratch[acc]} (heads {@code qw}
     * apart; phases 8 floats apart): each word is one code read and its three lane-scale vectors
     * ({@link #kiviLaneScales}) L1 reads, and each phase one decode and three FMAs. Four phases: the one FMA per
     * accumulator and word waits on the last, so four give it twice two phases' work per FMA latency (measured 0-5 %
     * faster than two, about the noise here; six would not fit the registers).
     */
    private static void kiviValueBlock(ByteBuffer codes, int at, int words, int stride, float[] scratch, int sv,
            int svStride, int bits, int k, int acc, int qw) {
        int mask = (1 << bits) - 1;
        int shift0 = bits * k;
        FloatVector x0 = FloatVector.zero(S);
        FloatVector x1 = x0;
        FloatVector x2 = x0;
        FloatVector x3 = x0;
        FloatVector y0 = x0;
        FloatVector y1 = x0;
        FloatVector y2 = x0;
        FloatVector y3 = x0;
        FloatVector z0 = x0;
        FloatVector z1 = x0;
        FloatVector z2 = x0;
        FloatVector z3 = x0;
        for (int w = 0; w < words; w++) {
            // the word shifts down a code a phase: one shift count in a register, not four
            IntVector word = IntVector.fromByteBuffer(WORDS, codes, at + w * stride, ORDER)
                    .lanewise(VectorOperators.LSHR, shift0);
            int s = sv + w * svStride;
            FloatVector c = (FloatVector) word.and(mask).convert(VectorOperators.I2F, 0);
            x0 = c.fma(FloatVector.fromArray(S, scratch, s), x0);
            y0 = c.fma(FloatVector.fromArray(S, scratch, s + 8), y0);
            z0 = c.fma(FloatVector.fromArray(S, scratch, s + 16), z0);
            word = word.lanewise(VectorOperators.LSHR, bits);
            c = (FloatVector) word.and(mask).convert(VectorOperators.I2F, 0);
            x1 = c.fma(FloatVector.fromArray(S, scratch, s), x1);
            y1 = c.fma(FloatVector.fromArray(S, scratch, s + 8), y1);
            z1 = c.fma(FloatVector.fromArray(S, scratch, s + 16), z1);
            word = word.lanewise(VectorOperators.LSHR, bits);
            c = (FloatVector) word.and(mask).convert(VectorOperators.I2F, 0);
            x2 = c.fma(FloatVector.fromArray(S, scratch, s), x2);
            y2 = c.fma(FloatVector.fromArray(S, scratch, s + 8), y2);
            z2 = c.fma(FloatVector.fromArray(S, scratch, s + 16), z2);
            word = word.lanewise(VectorOperators.LSHR, bits);
            c = (FloatVector) word.and(mask).convert(VectorOperators.I2F, 0);
            x3 = c.fma(FloatVector.fromArray(S, scratch, s), x3);
            y3 = c.fma(FloatVector.fromArray(S, scratch, s + 8), y3);
            z3 = c.fma(FloatVector.fromArray(S, scratch, s + 16), z3);
        }
        int a = acc; // the stores are inline: a vector passed to a call that is not inlined is boxed (see above)
        FloatVector.fromArray(S, scratch, a).add(x0).intoArray(scratch, a);
        FloatVector.fromArray(S, scratch, a + 8).add(x1).intoArray(scratch, a + 8);
        FloatVector.fromArray(S, scratch, a + 16).add(x2).intoArray(scratch, a + 16);
        FloatVector.fromArray(S, scratch, a + 24).add(x3).intoArray(scratch, a + 24);
        a += qw;
        FloatVector.fromArray(S, scratch, a).add(y0).intoArray(scratch, a);
        FloatVector.fromArray(S, scratch, a + 8).add(y1).intoArray(scratch, a + 8);
        FloatVector.fromArray(S, scratch, a + 16).add(y2).intoArray(scratch, a + 16);
        FloatVector.fromArray(S, scratch, a + 24).add(y3).intoArray(scratch, a + 24);
        a += qw;
        FloatVector.fromArray(S, scratch, a).add(z0).intoArray(scratch, a);
        FloatVector.fromArray(S, scratch, a + 8).add(z1).intoArray(scratch, a + 8);
        FloatVector.fromArray(S, scratch, a + 16).add(z2).intoArray(scratch, a + 16);
        FloatVector.fromArray(S, scratch, a + 24).add(z3).intoArray(scratch, a + 24);
    }

    /** The scores of the fp16 window's entries {@code [nq, n)} for up to 3 query heads at {@code qa, qb, qc}. */
    private static void windowScores(float[] q, int qa, int qb, int qc, ByteBuffer keys, int kh, int window,
            int quantized, int nq, int n, int e, float[] scores) {
        for (int j = nq; j < n; j++) { // the window (j >= quantized here)
            int row = (kh * window + j - quantized) * e * 2;
            FloatVector a0 = FloatVector.zero(S);
            FloatVector a1 = a0;
            FloatVector a2 = a0;
            for (int c = 0; c < e; c += S.length()) {
                FloatVector k = halves(keys, row + 2 * c);
                a0 = FloatVector.fromArray(S, q, qa + c).fma(k, a0);
                a1 = FloatVector.fromArray(S, q, qb + c).fma(k, a1);
                a2 = FloatVector.fromArray(S, q, qc + c).fma(k, a2);
            }
            scores[j] = VectorMath.sum(a0);
            scores[n + j] = VectorMath.sum(a1);
            scores[2 * n + j] = VectorMath.sum(a2);
        }
    }

    /**
     * Adds the fp16 window's values {@code [nq, n)}, weighted by the normalized {@code scores} rows {@code 0, n, 2n},
     * to the outputs of {@code heads} query heads from {@code o} (heads {@code e} apart): 16 channels of three heads
     * in six registers across the entries, each fp16 vector converted once for all three (as {@link #weighInt8}).
     */
    private static void windowValues(ByteBuffer values, int kh, int window, int quantized, int nq, int n, int e,
            float[] scores, int heads, float[] out, int o) {
        int o1 = heads > 1 ? o + e : o; // a missing head's sums go unstored
        int o2 = heads > 2 ? o + 2 * e : o;
        for (int c = 0; c < e; c += 16) {
            FloatVector x0 = FloatVector.fromArray(S, out, o + c);
            FloatVector x1 = FloatVector.fromArray(S, out, o + c + 8);
            FloatVector y0 = FloatVector.fromArray(S, out, o1 + c);
            FloatVector y1 = FloatVector.fromArray(S, out, o1 + c + 8);
            FloatVector z0 = FloatVector.fromArray(S, out, o2 + c);
            FloatVector z1 = FloatVector.fromArray(S, out, o2 + c + 8);
            for (int j = nq; j < n; j++) {
                int row = (kh * window + j - quantized) * e * 2;
                FloatVector p0 = FloatVector.broadcast(S, scores[j]);
                FloatVector p1 = FloatVector.broadcast(S, scores[n + j]);
                FloatVector p2 = FloatVector.broadcast(S, scores[2 * n + j]);
                FloatVector v = halves(values, row + 2 * c);
                x0 = v.fma(p0, x0);
                y0 = v.fma(p1, y0);
                z0 = v.fma(p2, z0);
                v = halves(values, row + 2 * c + 16);
                x1 = v.fma(p0, x1);
                y1 = v.fma(p1, y1);
                z1 = v.fma(p2, z1);
            }
            x0.intoArray(out, o + c);
            x1.intoArray(out, o + c + 8);
            if (heads > 1) {
                y0.intoArray(out, o1 + c);
                y1.intoArray(out, o1 + c + 8);
            }
            if (heads > 2) {
                z0.intoArray(out, o2 + c);
                z1.intoArray(out, o2 + c + 8);
            }
        }
    }

    /**
     * Whether {@link #attendKiviWords} takes a layout: token rows of whole 32-byte words or of half a word, a lane's
     * codes in one value group, and lanes per value group and per row powers of 2 (shifts rather than divisions in the
     * loops; {@link #expand} spreads them).
     */
    static boolean kiviWordsFit(int e, int bits, int groupSize) {
        int packed = e * bits / 8;
        int perLane = 32 / bits;
        int lanesPerGroup = groupSize / perLane;
        return kiviLayoutFits(e, bits, groupSize) && (packed % WORD_BYTES == 0 || packed == WORD_BYTES / 2)
                && groupSize % perLane == 0 && Integer.bitCount(lanesPerGroup) == 1 && Integer.bitCount(packed) == 1;
    }

    /** Whether {@link #attendInt8} takes an int8 store of head dim {@code e}: whole vectors per row. */
    static boolean int8LayoutFits(int e) {
        return e % S.length() == 0;
    }
}
