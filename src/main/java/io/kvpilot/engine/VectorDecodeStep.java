package io.kvpilot.engine;

import io.kvpilot.kvcache.DenseKvLayerStore;
import io.kvpilot.kvcache.KvLayerStore;
import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.util.concurrent.atomic.AtomicInteger;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * One decode step of a whole batch — every sequence one token, through every layer — in Java on float arrays: the
 * weight products on the packed weights ({@link PackedMatmul}), attention in place on the dense caches
 * ({@link VectorAttention}), and the rest (RMSNorm, RoPE, SwiGLU, residuals) as vector loops over {@code B × D}
 * floats. On libtorch that rest is ~20 small ops per layer, each microseconds of arithmetic behind tens of
 * microseconds of dispatch: about 35 ms of a 75 ms batch-16 step of the 110M model, and most of the default model's
 * step (docs/benchmarks.md). The arithmetic is {@link LlamaModel#forward}'s, on the same folded weights (norm weights
 * in the next projection, 1/√E in q), so parity with transformers holds on either path.
 *
 * <p>Used for a step whose every sequence decodes one token into dense, unpadded stores out of any sliding window's
 * reach, at most {@value PackedMatmul#MAX_ROWS} sequences ({@link #qualifies}); other steps run on libtorch. Not
 * thread-safe: the engine thread, with the {@link TwoLanes} helper inside the products and attention.
 *
 * <p>Notation as in LlamaModel: B sequences, D model dim, H query heads, K kv heads, G = H/K, E head dim, F ffn dim.
 */
final class VectorDecodeStep {

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_256;

    /** One layer's packed weights, folded as LlamaModel folds them; {@code qkvBias} null but for Qwen2. */
    record LayerWeights(PackedMatmul.PackedWeight qkv, float[] qkvBias, PackedMatmul.PackedWeight o,
            PackedMatmul.PackedWeight gateUp, PackedMatmul.PackedWeight down) {}

    private final int d;
    private final int h;
    private final int k;
    private final int e;
    private final int f;
    private final int vocab;
    private final int slidingWindow;
    private final float eps;
    private final FloatBuffer embed; // [V, D], a view of the model's embedding tensor
    private final float[] finalNorm; // [D]
    private final float[] invFreq; // [E/2], RoPE's, as LlamaModel's tables are made from
    private final LayerWeights[] layers;
    private final PackedMatmul.PackedWeight lmHead;
    private final PackedMatmul matmul;

    // the step's arrays, grown to the largest batch seen and then reused: nothing is allocated per step
    private int capacity;
    private float[] x; // [B, D] the residual stream
    private float[] xn; // [B, D] its RMSNorm
    private float[] qkv; // [B, qkv stride]  q | k | v, RoPE applied to q and k in place
    private float[] attn; // [B, H E]
    private float[] proj; // [B, D stride]  o and down products, before they are added to x
    private float[] gateUp; // [B, gateUp stride]
    private float[] hidden; // [B, F]
    private float[] logits; // [B, V stride]
    private float[] cos; // [B, E/2] this step's RoPE rotation per sequence
    private float[] sin;
    private int[] lengths = new int[0];
    private ByteBuffer[][] views = new ByteBuffer[0][];
    private int[] caps = new int[0];
    private float[] ownerScores = new float[0];
    private float[] helperScores = new float[0];
    private int batch; // the current layer's, read by both lanes in attendClaimed
    private int qkvStride;
    private Thread owner;
    private final AtomicInteger nextSequence = new AtomicInteger();
    private final Runnable attendClaimed = this::attendClaimed;

    VectorDecodeStep(ModelConfig cfg, FloatBuffer embed, float[] finalNorm, float[] invFreq, LayerWeights[] layers,
            PackedMatmul.PackedWeight lmHead, PackedMatmul matmul) {
        this.d = cfg.hiddenSize();
        this.h = cfg.heads();
        this.k = cfg.kvHeads();
        this.e = cfg.headDim();
        this.f = cfg.intermediateSize();
        this.vocab = cfg.vocabSize();
        this.slidingWindow = cfg.slidingWindow();
        this.eps = (float) cfg.rmsNormEps();
        this.embed = embed;
        this.finalNorm = finalNorm;
        this.invFreq = invFreq;
        this.layers = layers;
        this.lmHead = lmHead;
        this.matmul = matmul;
        warmUp();
    }

    /**
     * Runs the element-wise loops until the JIT has compiled them, as {@link VectorSgemm#warmUp} does for the
     * products: until C2 does, every vector is a heap object and a step's norms and SwiGLU take milliseconds, which
     * the first requests after start-up would pay. On zeros, in this object's own arrays.
     */
    private void warmUp() {
        ensureCapacity(1);
        for (int i = 0; i < 3_000; i++) {
            rmsNorm(x, xn, 1);
            rope(1, layers[0].qkv().stride());
            swiGlu(1, layers[0].gateUp().stride());
            add(x, 0, xn, 0, d);
            mulInPlace(xn, 0, finalNorm, d);
        }
    }

    /**
     * Whether this step can run here: each segment one token with nothing observed, every layer's store dense and
     * unpadded, no sliding window reached, at most {@value PackedMatmul#MAX_ROWS} sequences.
     */
    boolean qualifies(LlamaModel.Segment[] segs) {
        if (segs.length < PackedMatmul.MIN_ROWS || segs.length > PackedMatmul.MAX_ROWS) {
            return false;
        }
        for (LlamaModel.Segment seg : segs) {
            if (seg.count() != 1 || seg.observeWindow() != 0) {
                return false;
            }
            for (int l = 0; l < layers.length; l++) {
                KvLayerStore store = seg.cache().layer(l);
                if (!(store instanceof DenseKvLayerStore dense) || dense.ragged()
                        || (slidingWindow > 0 && dense.length() + 1 > slidingWindow)) {
                    return false;
                }
            }
        }
        return true;
    }

    /**
     * Decodes {@code tokens[s]} for each segment (which {@link #qualifies}): appends its K/V to every layer, advances
     * its cache, and returns the logits {@code [B, V]} — this object's array, valid until the next call.
     */
    float[] run(int[] tokens, LlamaModel.Segment[] segs, TwoLanes lanes) {
        int b = segs.length;
        ensureCapacity(b);
        int half = e / 2;
        for (int s = 0; s < b; s++) {
            embed.get(tokens[s] * d, x, s * d, d);
            int pos = segs[s].cache().positions();
            for (int i = 0; i < half; i++) {
                float angle = (float) pos * invFreq[i]; // as LlamaModel.ropeTables: fp32 product, then cos/sin
                cos[s * half + i] = (float) Math.cos(angle);
                sin[s * half + i] = (float) Math.sin(angle);
            }
        }
        for (int l = 0; l < layers.length; l++) {
            LayerWeights w = layers[l];
            // ---- attention ----
            rmsNorm(x, xn, b);
            matmul.multiply(xn, b, w.qkv(), qkv, lanes);
            for (int s = 0; w.qkvBias() != null && s < b; s++) {
                add(qkv, s * w.qkv().stride(), w.qkvBias(), 0, w.qkvBias().length);
            }
            rope(b, w.qkv().stride());
            attend(segs, l, b, w.qkv().stride(), lanes);
            matmul.multiply(attn, b, w.o(), proj, lanes);
            addInto(x, proj, w.o().stride(), b);
            // ---- MLP (SwiGLU) ----
            rmsNorm(x, xn, b);
            matmul.multiply(xn, b, w.gateUp(), gateUp, lanes);
            swiGlu(b, w.gateUp().stride());
            matmul.multiply(hidden, b, w.down(), proj, lanes);
            addInto(x, proj, w.down().stride(), b);
        }
        for (LlamaModel.Segment seg : segs) {
            seg.cache().advance(1);
        }
        rmsNorm(x, xn, b);
        for (int s = 0; s < b; s++) {
            mulInPlace(xn, s * d, finalNorm, d);
        }
        matmul.multiply(xn, b, lmHead, logits, lanes);
        int stride = lmHead.stride();
        for (int s = 1; stride != vocab && s < b; s++) { // close the padding up: [B, V] contiguous
            System.arraycopy(logits, s * stride, logits, s * vocab, vocab);
        }
        return logits;
    }

    private void ensureCapacity(int b) {
        if (b <= capacity) {
            return;
        }
        x = new float[b * d];
        xn = new float[b * d];
        qkv = new float[b * layers[0].qkv().stride()];
        attn = new float[b * h * e];
        proj = new float[b * Math.max(layers[0].o().stride(), layers[0].down().stride())];
        gateUp = new float[b * layers[0].gateUp().stride()];
        hidden = new float[b * f];
        logits = new float[b * lmHead.stride()];
        cos = new float[b * (e / 2)];
        sin = new float[b * (e / 2)];
        lengths = new int[b];
        views = new ByteBuffer[b][];
        caps = new int[b];
        capacity = b;
    }

    /** {@code out = x / sqrt(mean(x²) + eps)} per row; the weight is folded into the next projection. */
    private void rmsNorm(float[] in, float[] out, int b) {
        int end = d - d % S.length();
        for (int s = 0; s < b; s++) {
            int row = s * d;
            FloatVector acc = FloatVector.zero(S);
            for (int c = 0; c < end; c += S.length()) {
                FloatVector v = FloatVector.fromArray(S, in, row + c);
                acc = v.fma(v, acc);
            }
            float sum = acc.reduceLanes(VectorOperators.ADD);
            for (int c = end; c < d; c++) {
                sum += in[row + c] * in[row + c];
            }
            float scale = (float) (1.0 / Math.sqrt(sum / d + eps));
            for (int c = 0; c < end; c += S.length()) {
                FloatVector.fromArray(S, in, row + c).mul(scale).intoArray(out, row + c);
            }
            for (int c = end; c < d; c++) {
                out[row + c] = in[row + c] * scale;
            }
        }
    }

    /**
     * RoPE on each sequence's q and k heads (the first H + K heads of its qkv row), rotate-half form:
     * {@code x₁' = x₁ cos − x₂ sin}, {@code x₂' = x₂ cos + x₁ sin} over the two halves of a head.
     */
    private void rope(int b, int stride) {
        int half = e / 2;
        int end = half - half % S.length();
        for (int s = 0; s < b; s++) {
            int t = s * half;
            for (int head = 0; head < h + k; head++) {
                int lo = s * stride + head * e;
                int hi = lo + half;
                int i = 0;
                for (; i < end; i += S.length()) {
                    FloatVector c = FloatVector.fromArray(S, cos, t + i);
                    FloatVector sn = FloatVector.fromArray(S, sin, t + i);
                    FloatVector x1 = FloatVector.fromArray(S, qkv, lo + i);
                    FloatVector x2 = FloatVector.fromArray(S, qkv, hi + i);
                    x1.mul(c).sub(x2.mul(sn)).intoArray(qkv, lo + i);
                    x2.mul(c).add(x1.mul(sn)).intoArray(qkv, hi + i);
                }
                for (; i < half; i++) {
                    float x1 = qkv[lo + i];
                    float x2 = qkv[hi + i];
                    qkv[lo + i] = x1 * cos[t + i] - x2 * sin[t + i];
                    qkv[hi + i] = x2 * cos[t + i] + x1 * sin[t + i];
                }
            }
        }
    }

    /**
     * Each sequence's new key and value go into its store's next slot (on this thread: a store may grow, which
     * allocates from the pool), then each sequence's queries attend over its store in place, sequences claimed by
     * both lanes: after 1,024 tokens a batch of 16 reads 1.2 GB of K/V per step, which one core streams at half the
     * rate two do.
     */
    private void attend(LlamaModel.Segment[] segs, int l, int b, int stride, TwoLanes lanes) {
        int longest = 0;
        for (int s = 0; s < b; s++) {
            DenseKvLayerStore store = (DenseKvLayerStore) segs[s].cache().layer(l);
            ByteBuffer[] kv = store.slotViewsForOneMore();
            int cap = store.capacity();
            int slot = store.length();
            for (int kh = 0; kh < k; kh++) { // keys cached post-RoPE, like the libtorch path
                VectorAttention.write(kv[0], (kh * cap + slot) * e, qkv, s * stride + (h + kh) * e, e);
                VectorAttention.write(kv[1], (kh * cap + slot) * e, qkv, s * stride + (h + k + kh) * e, e);
            }
            store.appended();
            views[s] = kv;
            caps[s] = cap;
            lengths[s] = slot + 1;
            longest = Math.max(longest, slot + 1);
        }
        if (ownerScores.length < longest) {
            ownerScores = new float[Math.max(longest, 2 * ownerScores.length)]; // grows with the context, not per step
            helperScores = new float[ownerScores.length];
        }
        batch = b;
        qkvStride = stride;
        owner = Thread.currentThread();
        nextSequence.set(0);
        if (lanes != null && b > 1) {
            lanes.share(attendClaimed);
        } else {
            attendClaimed.run();
        }
    }

    private void attendClaimed() {
        float[] scores = Thread.currentThread() == owner ? ownerScores : helperScores;
        for (int s; (s = nextSequence.getAndIncrement()) < batch; ) {
            VectorAttention.attend(qkv, s * qkvStride, views[s][0], views[s][1], caps[s], lengths[s], k, h / k, e, attn,
                    s * h * e, scores);
        }
    }

    /** {@code silu(gate) · up} per row, gate and up the two halves of the gateUp product. */
    private void swiGlu(int b, int stride) {
        int end = f - f % S.length();
        for (int s = 0; s < b; s++) {
            int g = s * stride;
            int u = g + f;
            int o = s * f;
            int c = 0;
            for (; c < end; c += S.length()) {
                FloatVector gate = FloatVector.fromArray(S, gateUp, g + c);
                FloatVector silu = gate.div(gate.neg().lanewise(VectorOperators.EXP).add(1f));
                silu.mul(FloatVector.fromArray(S, gateUp, u + c)).intoArray(hidden, o + c);
            }
            for (; c < f; c++) {
                float gate = gateUp[g + c];
                hidden[o + c] = gate / (1f + (float) Math.exp(-gate)) * gateUp[u + c];
            }
        }
    }

    /** {@code x[s] += y[s]} for the first D columns of each row of {@code y} (rows {@code stride} apart). */
    private void addInto(float[] target, float[] y, int stride, int b) {
        for (int s = 0; s < b; s++) {
            add(target, s * d, y, s * stride, d);
        }
    }

    /** {@code target[at, +width) += src[from, +width)}. */
    private static void add(float[] target, int at, float[] src, int from, int width) {
        int end = width - width % S.length();
        int c = 0;
        for (; c < end; c += S.length()) {
            FloatVector.fromArray(S, target, at + c).add(FloatVector.fromArray(S, src, from + c)).intoArray(target, at + c);
        }
        for (; c < width; c++) {
            target[at + c] += src[from + c];
        }
    }

    private static void mulInPlace(float[] target, int at, float[] by, int width) {
        int end = width - width % S.length();
        int c = 0;
        for (; c < end; c += S.length()) {
            FloatVector.fromArray(S, target, at + c).mul(FloatVector.fromArray(S, by, c)).intoArray(target, at + c);
        }
        for (; c < width; c++) {
            target[at + c] *= by[c];
        }
    }
}
