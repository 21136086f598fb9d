package io.kvpilot.engine.vector;

import ai.djl.ndarray.types.Shape;
import io.kvpilot.engine.ForwardRoute;
import io.kvpilot.engine.model.ModelConfig;
import io.kvpilot.engine.model.Segment;
import io.kvpilot.kvcache.DenseKvLayerStore;
import io.kvpilot.kvcache.HeadPadding;
import io.kvpilot.kvcache.KvLayerStore;
import io.kvpilot.kvcache.lowrank.LowRankKeysStore;
import io.kvpilot.kvcache.quant.InPlaceKvStore;
import io.kvpilot.kvcache.quant.Int8KvStore;
import io.kvpilot.kvcache.quant.KiviKvStore;
import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.util.concurrent.atomic.AtomicInteger;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * A forward pass of at most {@value PackedMatmul#MAX_ROWS} tokens — a decode step (one token per sequence), a few
 * short prompts, or both — in Java on float arrays: the weight products on the packed weights ({@link PackedMatmul}),
 * attention in place on the dense caches ({@link VectorAttention}), and the rest (RMSNorm, RoPE, SwiGLU, residuals)
 * as vector loops over {@code N × D} floats. On libtorch that rest is ~20 small ops per layer, each microseconds of
 * arithmetic behind tens of microseconds of dispatch: about 35 ms of a 75 ms batch-16 step of the 110M model, and most
 * of the default model's step (docs/benchmarks.md). The arithmetic is {@code LlamaModel.forward}'s, on the same folded
 * weights (norm weights in the next projection, 1/√E in q), so parity with transformers holds on either path.
 *
 * <p>Causal attention needs no mask here: a sequence's new keys and values are all written into its store first, and
 * its token {@code t} then attends over the entries up to its own slot only.
 *
 * <p>A sequence that observes attention for its compression method (the trailing queries of its prompt) gets their
 * probabilities as the libtorch path returns them, {@code [H, W, n]} per layer. Used for passes into dense, int8,
 * KIVI and low-rank-key stores, head-ragged (AdaKV) ones included, out of any sliding window's reach ({@link #route});
 * other passes run on libtorch. Not thread-safe: the
 * engine thread, with the {@link TwoLanes} helper inside the products and attention.
 *
 * <p>Notation as in LlamaModel: N tokens (rows), B sequences, D model dim, H query heads, K kv heads, E head dim, F ffn
 * dim.
 */
public final class VectorForwardPass {

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_256;

    /** One layer's packed weights, folded as LlamaModel folds them; {@code qkvBias} null but for Qwen2. */
    public record LayerWeights(PackedMatmul.PackedWeight qkv, float[] qkvBias, PackedMatmul.PackedWeight o,
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

    // the pass's arrays, grown to the largest pass seen and then reused: nothing is allocated per step
    private int capacity;
    private float[] x; // [N, D] the residual stream
    private float[] xn; // [N, D] its RMSNorm
    private float[] qkv; // [N, qkv stride]  q | k | v, RoPE applied to q and k in place
    private float[] attn; // [N, H E]
    private float[] proj; // [N, D stride]  o and down products, before they are added to x
    private float[] gateUp; // [N, gateUp stride]
    private float[] hidden; // [N, F]
    private float[] logits; // [rows returned, V stride]
    private float[] cos; // [N, E/2] this pass's RoPE rotation per token
    private float[] sin;
    private int[] rowSegment = new int[0]; // per token: its sequence,
    private int[] rowVisible = new int[0]; // the cache entries it attends over (its own included)
    private float[][] rowProbs = new float[0][]; // per token: where its observed probabilities go, or null,
    private int[] rowProbsOff = new int[0]; // from where (head 0), heads W·n apart
    private int[] rowProbsStride = new int[0];
    private ByteBuffer[][] views = new ByteBuffer[0][]; // per sequence: its store's K and V views,
    private int[] caps = new int[0]; // and their capacity
    private KvLayerStore[] stores = new KvLayerStore[0]; // per sequence: the layer's store being attended over,
    private HeadPadding[] pads = new HeadPadding[0]; // and its padding (null unless head-ragged)
    private final float[] ownerScratch; // per lane: a quantized kernel's few head-sized arrays
    private final float[] helperScratch;
    private float[] ownerScores = new float[0];
    private float[] helperScores = new float[0];
    private int rows; // the current pass's, read by both lanes in attendClaimed
    private int qkvStride;
    private Thread owner;
    private final AtomicInteger nextRow = new AtomicInteger();
    private final Runnable attendClaimed = this::attendClaimed;

    public VectorForwardPass(ModelConfig cfg, FloatBuffer embed, float[] finalNorm, float[] invFreq, LayerWeights[] layers,
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
        this.ownerScratch = new float[7 * e];
        this.helperScratch = new float[7 * e];
        warmUp();
    }

    /**
     * Runs the element-wise loops until the JIT has compiled them, as {@link VectorSgemm#warmUp} does for the
     * products: until C2 does, every vector is a heap object and a step's norms and SwiGLU take milliseconds, which
     * the first requests after start-up would pay. On zeros, in this object's own arrays.
     */
    private void warmUp() {
        ensureCapacity(1, 1);
        for (int i = 0; i < 3_000; i++) {
            rmsNorm(x, xn, 1);
            rope(1, layers[0].qkv().stride());
            swiGlu(1, layers[0].gateUp().stride());
            add(x, 0, xn, 0, d);
            mulInPlace(xn, 0, finalNorm, d);
        }
    }

    /** Most tokens in a pass of any context length: every decode batch the engine forms, and short steps. */
    static final int DECODE_TOKENS = 64;
    /** Most tokens in a pass here whose attention is short ({@link #ATTENTION_ENTRIES}). */
    static final int MAX_TOKENS = PackedMatmul.MAX_ROWS;
    /**
     * Most cache entries the tokens of a pass over {@value #DECODE_TOKENS} tokens may attend over in all: a fresh
     * prompt of up to ~180 tokens. Attention here is one query row at a time, which loses to libtorch's batched
     * products as prompts grow (kvpilot-mini, 256-token chunks: 33 ms of attention for a fresh chunk, 238 ms for the
     * fourth; a 1,024-token prefill ran 7 % slower with its first chunk here), while short prompts gain from the rest of
     * the pass (128 tokens, JIT warm: kvpilot-mini 2,820–3,290 vs 1,355–1,490 tokens/s, the 110M model 408–566 vs
     * 376–404; docs/benchmarks.md).
     */
    static final long ATTENTION_ENTRIES = 16L * 1024;

    /**
     * Whether this pass can run here, and if not the first reason: at most {@value #DECODE_TOKENS} tokens, or at most
     * {@value #MAX_TOKENS} that attend over at most {@value #ATTENTION_ENTRIES} entries in all; every layer's store
     * one a kernel here reads (dense, int8, KIVI of a fitting layout, low-rank keys; head-ragged ones whose padding is
     * one range per head), no sliding window reached.
     */
    public ForwardRoute route(Segment[] segs) {
        int n = 0;
        long entries = 0;
        for (Segment seg : segs) {
            if (seg.count() < 1) {
                return ForwardRoute.EMPTY_SEGMENT;
            }
            if (seg.sums() != null) { // no attention matrix to sum here
                return ForwardRoute.ATTENTION_SUMS;
            }
            n += seg.count();
            long held = seg.cache().positions(); // entries before this pass, at most: compaction only removes
            entries += seg.count() * held + (long) seg.count() * (seg.count() + 1) / 2;
            for (int l = 0; l < layers.length; l++) {
                KvLayerStore store = seg.cache().layer(l);
                if (store instanceof DenseKvLayerStore dense) {
                    if (dense.ragged() && dense.padding() == null) {
                        return ForwardRoute.RAGGED_STORE;
                    }
                } else if (store instanceof InPlaceKvStore quantized && readsInPlace(quantized)) {
                    if (quantized.ragged() && quantized.padding() == null) {
                        return ForwardRoute.RAGGED_STORE;
                    }
                    if (seg.observeWindow() > 0) { // a prompt observed for compression meets a store already compressed
                        return ForwardRoute.QUANTIZED_STORE;
                    }
                } else {
                    return ForwardRoute.QUANTIZED_STORE;
                }
                if (slidingWindow > 0 && store.length() + seg.count() > slidingWindow) {
                    return ForwardRoute.SLIDING_WINDOW;
                }
            }
        }
        if (n <= DECODE_TOKENS) {
            return ForwardRoute.JAVA;
        }
        return n > MAX_TOKENS ? ForwardRoute.LONG_PROMPT
                : entries > ATTENTION_ENTRIES ? ForwardRoute.LONG_CONTEXT : ForwardRoute.JAVA;
    }

    /**
     * Whether a compressed store has a kernel here: int8 and low-rank keys always, KIVI where its layout fills whole
     * vectors.
     */
    private boolean readsInPlace(InPlaceKvStore store) {
        if (store instanceof LowRankKeysStore) {
            return true;
        }
        if (store instanceof Int8KvStore int8) {
            return VectorAttention.int8LayoutFits(int8.headDim());
        }
        return store instanceof KiviKvStore kivi
                && VectorAttention.kiviLayoutFits(kivi.headDim(), kivi.format().bits(), kivi.format().groupSize());
    }

    /**
     * Runs the segments' tokens ({@code tokens}, back to back, for a pass {@link #route} sends here): appends their K/V
     * to every layer, advances each cache, and returns the logits — {@code [N, V]} with {@code allLogits}, else
     * {@code [B, V]}, each sequence's last token — in this object's array, valid until the next call.
     */
    public float[] run(int[] tokens, Segment[] segs, boolean allLogits, TwoLanes lanes) {
        int b = segs.length;
        int n = tokens.length;
        ensureCapacity(n, b);
        int half = e / 2;
        for (int s = 0, r = 0; s < b; s++) {
            int first = segs[s].cache().positions();
            for (int t = 0; t < segs[s].count(); t++, r++) {
                embed.get(tokens[r] * d, x, r * d, d);
                rowSegment[r] = s;
                float pos = first + t;
                for (int i = 0; i < half; i++) {
                    float angle = pos * invFreq[i]; // as LlamaModel.ropeTables: fp32 product, then cos/sin
                    cos[r * half + i] = (float) Math.cos(angle);
                    sin[r * half + i] = (float) Math.sin(angle);
                }
            }
        }
        for (int l = 0; l < layers.length; l++) {
            LayerWeights w = layers[l];
            // ---- attention ----
            rmsNorm(x, xn, n);
            matmul.multiply(xn, n, w.qkv(), qkv, lanes);
            for (int r = 0; w.qkvBias() != null && r < n; r++) {
                add(qkv, r * w.qkv().stride(), w.qkvBias(), 0, w.qkvBias().length);
            }
            rope(n, w.qkv().stride());
            attend(segs, l, n, w.qkv().stride(), lanes);
            matmul.multiply(attn, n, w.o(), proj, lanes);
            addInto(x, proj, w.o().stride(), n);
            // ---- MLP (SwiGLU) ----
            rmsNorm(x, xn, n);
            matmul.multiply(xn, n, w.gateUp(), gateUp, lanes);
            swiGlu(n, w.gateUp().stride());
            matmul.multiply(hidden, n, w.down(), proj, lanes);
            addInto(x, proj, w.down().stride(), n);
        }
        for (Segment seg : segs) {
            seg.cache().advance(seg.count());
        }
        int out = n;
        if (!allLogits && n != b) { // each sequence's last token moves up to row s (its row is never below s)
            out = b;
            for (int s = 0, last = -1; s < b; s++) {
                last += segs[s].count();
                System.arraycopy(x, last * d, x, s * d, d);
            }
        }
        rmsNorm(x, xn, out);
        for (int r = 0; r < out; r++) {
            mulInPlace(xn, r * d, finalNorm, d);
        }
        matmul.multiply(xn, out, lmHead, logits, lanes);
        int stride = lmHead.stride();
        for (int r = 1; stride != vocab && r < out; r++) { // close the padding up: [rows, V] contiguous
            System.arraycopy(logits, r * stride, logits, r * vocab, vocab);
        }
        return logits;
    }

    /** Arrays for {@code n} tokens of {@code b} sequences, grown to the largest pass seen. */
    private void ensureCapacity(int n, int b) {
        if (views.length < b) {
            views = new ByteBuffer[b][];
            caps = new int[b];
            stores = new KvLayerStore[b];
            pads = new HeadPadding[b];
        }
        if (n <= capacity) {
            return;
        }
        x = new float[n * d];
        xn = new float[n * d];
        qkv = new float[n * layers[0].qkv().stride()];
        attn = new float[n * h * e];
        proj = new float[n * Math.max(layers[0].o().stride(), layers[0].down().stride())];
        gateUp = new float[n * layers[0].gateUp().stride()];
        hidden = new float[n * f];
        logits = new float[n * lmHead.stride()];
        cos = new float[n * (e / 2)];
        sin = new float[n * (e / 2)];
        rowSegment = new int[n];
        rowVisible = new int[n];
        rowProbs = new float[n][];
        rowProbsOff = new int[n];
        rowProbsStride = new int[n];
        capacity = n;
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
            float sum = VectorMath.sum(acc);
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
     * Each sequence's new keys and values go into its store's next slots (on this thread: a store may grow, which
     * allocates from the pool), then each token's queries attend over its store in place up to its own slot, tokens
     * claimed by both lanes: after 1,024 tokens a batch of 16 reads 1.2 GB of K/V per step, which one core streams at
     * half the rate two do.
     */
    private void attend(Segment[] segs, int l, int n, int stride, TwoLanes lanes) {
        int longest = 0;
        float[][] observed = null;
        for (int s = 0, r = 0; s < segs.length; s++) {
            Segment seg = segs[s];
            int count = seg.count();
            KvLayerStore layer = seg.cache().layer(l);
            stores[s] = layer;
            pads[s] = layer.padding();
            if (layer instanceof InPlaceKvStore quantized) { // route() let no observed window through to one
                int held = quantized.length();
                quantized.appendRows(qkv, r * stride, stride, h * e, (h + k) * e, count); // quantized in place
                views[s] = quantized.views();
                for (int t = 0; t < count; t++, r++) {
                    rowVisible[r] = held + t + 1;
                    rowProbs[r] = null;
                }
                longest = Math.max(longest, held + count);
                continue;
            }
            DenseKvLayerStore store = (DenseKvLayerStore) layer;
            ByteBuffer[] kv = store.slotViewsFor(count);
            int cap = store.capacity();
            int held = store.length();
            int window = Math.min(seg.observeWindow(), count); // the trailing queries, as LlamaModel.attendMany
            float[] probs = null;
            if (window > 0) { // [H, W, n], zero where a query may not look (causal)
                probs = new float[h * window * (held + count)];
                observed = observed == null ? new float[segs.length][] : observed;
                observed[s] = probs;
            }
            for (int t = 0; t < count; t++, r++) {
                for (int kh = 0; kh < k; kh++) { // keys cached post-RoPE, like the libtorch path
                    int slot = (kh * cap + held + t) * e;
                    VectorAttention.write(kv[0], slot, qkv, r * stride + (h + kh) * e, e);
                    VectorAttention.write(kv[1], slot, qkv, r * stride + (h + k + kh) * e, e);
                }
                rowVisible[r] = held + t + 1;
                int w = t - (count - window);
                rowProbs[r] = w >= 0 ? probs : null;
                rowProbsOff[r] = w * (held + count);
                rowProbsStride[r] = window * (held + count);
            }
            store.appended(count);
            views[s] = kv;
            caps[s] = cap;
            longest = Math.max(longest, held + count);
        }
        if (ownerScores.length < 3 * longest) { // the quantized kernels score up to three query heads at once
            ownerScores = new float[Math.max(3 * longest, 2 * ownerScores.length)]; // grows with the context
            helperScores = new float[ownerScores.length];
        }
        rows = n;
        qkvStride = stride;
        owner = Thread.currentThread();
        nextRow.set(0);
        if (lanes != null && n > 1) {
            lanes.share(attendClaimed);
        } else {
            attendClaimed.run();
        }
        for (int s = 0; observed != null && s < segs.length; s++) {
            if (observed[s] != null) {
                int window = Math.min(segs[s].observeWindow(), segs[s].count());
                segs[s].observed()[l] = segs[s].observedManager().create(observed[s],
                        new Shape(h, window, observed[s].length / (h * window)));
            }
        }
    }

    private void attendClaimed() {
        boolean mine = Thread.currentThread() == owner;
        float[] scores = mine ? ownerScores : helperScores;
        for (int r; (r = nextRow.getAndIncrement()) < rows; ) {
            int s = rowSegment[r];
            KvLayerStore store = stores[s];
            int at = r * qkvStride;
            if (store instanceof Int8KvStore int8) {
                VectorAttention.attendInt8(qkv, at, views[s], int8.capacity(), rowVisible[r], k, h / k, e,
                        attn, r * h * e, scores, pads[s]);
            } else if (store instanceof KiviKvStore kivi) {
                VectorAttention.attendKivi(qkv, at, views[s], kivi.capacity(), kivi.quantized(),
                        kivi.format().residual() + kivi.format().groupSize(), kivi.format().bits(),
                        kivi.format().groupSize(), rowVisible[r], k, h / k, e, attn, r * h * e, scores,
                        mine ? ownerScratch : helperScratch, pads[s]);
            } else if (store instanceof LowRankKeysStore lowRank) {
                VectorAttention.attendLowRank(qkv, at, views[s], lowRank.capacity(), lowRank.rank(), rowVisible[r],
                        k, h / k, e, attn, r * h * e, scores, mine ? ownerScratch : helperScratch, pads[s]);
            } else {
                VectorAttention.attend(qkv, at, views[s][0], views[s][1], caps[s], rowVisible[r], k, h / k, e,
                        attn, r * h * e, scores, rowProbs[r], rowProbsOff[r], rowProbsStride[r], pads[s]);
            }
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
                FloatVector silu = gate.div(VectorMath.exp(gate.neg()).add(1f));
                silu.mul(FloatVector.fromArray(S, gateUp, u + c)).intoArray(hidden, o + c);
            }
            for (; c < f; c++) {
                float gate = gateUp[g + c];
                hidden[o + c] = gate / (1f + VectorMath.exp(-gate)) * gateUp[u + c];
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
