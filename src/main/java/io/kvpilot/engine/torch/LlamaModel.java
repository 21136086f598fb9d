package io.kvpilot.engine.torch;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.core.Linear;
import io.kvpilot.engine.EngineOptions;
import io.kvpilot.engine.EngineStepStats;
import io.kvpilot.engine.ForwardRoute;
import io.kvpilot.engine.model.ModelConfig;
import io.kvpilot.engine.model.Safetensors;
import io.kvpilot.engine.model.Segment;
import io.kvpilot.engine.vector.PackedMatmul;
import io.kvpilot.engine.vector.VectorForwardPass;
import io.kvpilot.kvcache.DenseKvLayerStore;
import io.kvpilot.kvcache.KvLayerStore;
import io.kvpilot.kvcache.SequenceKvCache;
import io.kvpilot.kvcache.quant.DirectAttention;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * The LLaMA-family transformer (LLaMA 2/3, Mistral, Qwen2) as DJL NDArray ops, top to bottom in one file.
 *
 * <p>One {@link #forward} serves prefill and decode alike: the tokens of several sequences are <em>packed</em> into one
 * {@code [N, dim]} matrix (a decode step is N = B sequences × 1 token; a prefill chunk is the prompts' tokens back to
 * back), so every projection and MLP runs once per step over all sequences. Only attention runs per sequence, against
 * that sequence's {@link KvLayerStore}s — the one way K/V are read.
 *
 * <p>Load-time folding (fewer ops per step, which is what costs at this model size — see docs/djl-notes.md): q, k and v are one
 * matrix, as are gate and up; each RMSNorm weight is multiplied into the columns of the projection that follows it;
 * 1/√headDim is multiplied into the q rows (RoPE is linear, so scaling commutes with it).
 *
 * <p>With the Vector API in the JVM, passes of at most 64 tokens (every decode step) and short prompts run the same
 * arithmetic in Java instead ({@link VectorForwardPass}, via {@link #logits}); this file stays the reference and the
 * path for long prompts and for caches the Java pass does not read (windowed, or a layout no Java kernel takes).
 *
 * <p>Notation: N packed tokens, D model dim, H query heads, K kv heads, G = H/K, E head dim, F ffn dim, V vocab,
 * T one sequence's new tokens, n its cached entries.
 */
public final class LlamaModel implements AutoCloseable {

    private record Layer(
            NDArray wqkv, // [(H+2K)E, D]  input norm and q scale folded in
            NDArray bqkv, // [(H+2K)E] or null (Qwen2 has biases)
            NDArray wo, // [D, H E]
            NDArray wGateUp, // [2F, D]  post-attention norm folded in
            NDArray wDown) {} // [D, F]

    private final ModelConfig cfg;
    private final NDManager weights;
    private final NDArray embed; // [V, D]
    private final NDArray finalNorm; // [D]
    private final NDArray lmHead; // [V, D] (the embedding itself when tied)
    private final Layer[] layers;
    private final NDArray ropeCos; // [ctx, E]  cos(pos·θ_i), duplicated over both halves
    private final NDArray ropeSin; // [ctx, E]
    private final NDArray rotateHalf; // [E, E]  x @ R == cat(-x2, x1)
    private final NDArray eps; // scalar rms_norm_eps, made once (a Java number would make a tensor per call)
    private final long parameterCount;
    private static final int SMALL_BATCH = 16;
    /** Most cached entries, over a whole decode batch, attended in one batched set of ops (see attendDecodeBatch). */
    static final int BATCHED_KEYS = 1024;
    private float[] maskBuffer = new float[0]; // the engine thread's, reused across steps
    private NDArray blockMask; // the current step's block-diagonal mask (owned by the step's manager)
    private int[] blockMaskLengths;
    private int matmulThreads = 1;
    private int threadsNow = -1;
    /** Each decode weight's top and bottom row halves (views), for {@link TwoLaneMatmul}. */
    private final Map<NDArray, NDArray[]> halves = new IdentityHashMap<>();
    private TwoLaneMatmul lanes; // made when decode first runs on two threads
    /**
     * Each decode weight packed for {@link PackedMatmul} (1–64 rows), when the JVM has the Vector API and the engine
     * options allow it ({@link EngineOptions#javaForwardPass()}).
     */
    private final Map<NDArray, PackedMatmul.PackedWeight> packed = new IdentityHashMap<>();
    private final PackedMatmul packedMatmul;
    /** Decode steps and short prefills in Java, on the packed weights: when the JVM has the Vector API. */
    private final VectorForwardPass vectorPass;
    /** Why every pass runs on libtorch when {@link #vectorPass} is null; null when it exists. */
    private final ForwardRoute noVectorPass;
    private long vectorPasses;

    /** {@code javaForwardPass}: short passes on the Java pass when the JVM has the module (else libtorch alone). */
    public LlamaModel(ModelConfig cfg, Safetensors st, NDManager parent, boolean javaForwardPass) {
        this.cfg = cfg;
        this.weights = parent.newSubManager();
        try {
            int d = cfg.hiddenSize(), e = cfg.headDim(), h = cfg.heads(), k = cfg.kvHeads(), f = cfg.intermediateSize();
            long params = 0;
            embed = st.load(weights, "model.embed_tokens.weight", cfg.vocabSize(), d);
            params += embed.size();
            finalNorm = st.load(weights, "model.norm.weight", d);
            if (cfg.tiedEmbeddings()) {
                lmHead = embed;
            } else {
                lmHead = st.load(weights, "lm_head.weight", cfg.vocabSize(), d);
                params += lmHead.size();
            }
            layers = new Layer[cfg.layers()];
            float qScale = (float) (1.0 / Math.sqrt(e));
            for (int i = 0; i < layers.length; i++) {
                String p = "model.layers." + i + ".";
                try (NDManager tmp = weights.newSubManager()) {
                    NDArray inNorm = st.load(tmp, p + "input_layernorm.weight", d);
                    NDArray postNorm = st.load(tmp, p + "post_attention_layernorm.weight", d);
                    NDArray wq = st.load(tmp, p + "self_attn.q_proj.weight", (long) h * e, d).mul(qScale);
                    NDArray wk = st.load(tmp, p + "self_attn.k_proj.weight", (long) k * e, d);
                    NDArray wv = st.load(tmp, p + "self_attn.v_proj.weight", (long) k * e, d);
                    NDArray wqkv = NDArrays.concat(new NDList(wq, wk, wv), 0).mul(inNorm.reshape(1, d));
                    NDArray bqkv = null;
                    if (cfg.qkvBias()) {
                        NDArray bq = st.load(tmp, p + "self_attn.q_proj.bias", (long) h * e).mul(qScale);
                        NDArray bk = st.load(tmp, p + "self_attn.k_proj.bias", (long) k * e);
                        NDArray bv = st.load(tmp, p + "self_attn.v_proj.bias", (long) k * e);
                        bqkv = NDArrays.concat(new NDList(bq, bk, bv), 0);
                    }
                    NDArray wo = st.load(tmp, p + "self_attn.o_proj.weight", d, (long) h * e);
                    NDArray gate = st.load(tmp, p + "mlp.gate_proj.weight", f, d);
                    NDArray up = st.load(tmp, p + "mlp.up_proj.weight", f, d);
                    NDArray wGateUp = NDArrays.concat(new NDList(gate, up), 0).mul(postNorm.reshape(1, d));
                    NDArray wDown = st.load(tmp, p + "mlp.down_proj.weight", d, f);
                    layers[i] = new Layer(keep(wqkv), bqkv == null ? null : keep(bqkv), keep(wo), keep(wGateUp), keep(wDown));
                    params += 2L * d + wqkv.size() + (bqkv == null ? 0 : bqkv.size()) + wo.size() + wGateUp.size() + wDown.size();
                }
            }
            parameterCount = params + d;
            NDArray[] rope = ropeTables(cfg, weights);
            ropeCos = rope[0];
            ropeSin = rope[1];
            rotateHalf = rotateHalfMatrix(e, weights);
            eps = weights.create((float) cfg.rmsNormEps());
            List<NDArray> projections = new ArrayList<>(List.of(lmHead));
            for (Layer l : layers) {
                projections.addAll(List.of(l.wqkv(), l.wo(), l.wGateUp(), l.wDown()));
            }
            for (NDArray w : projections) {
                halves.put(w, new NDArray[] {TwoLaneMatmul.top(w), TwoLaneMatmul.bottom(w)});
            }
            noVectorPass = javaForwardPass ? PackedMatmul.unavailableRoute() : ForwardRoute.VECTOR_DISABLED;
            packedMatmul = noVectorPass == null ? new PackedMatmul() : null;
            if (packedMatmul != null) {
                for (NDArray w : projections) {
                    packed.put(w, PackedMatmul.pack(w));
                }
                VectorForwardPass.LayerWeights[] packedLayers = new VectorForwardPass.LayerWeights[layers.length];
                for (int i = 0; i < layers.length; i++) {
                    Layer l = layers[i];
                    packedLayers[i] = new VectorForwardPass.LayerWeights(packed.get(l.wqkv()),
                            l.bqkv() == null ? null : l.bqkv().toFloatArray(), packed.get(l.wo()),
                            packed.get(l.wGateUp()), packed.get(l.wDown()));
                }
                vectorPass = new VectorForwardPass(cfg, embed.toByteBuffer(true).asFloatBuffer(), // a view, no copy
                        finalNorm.toFloatArray(), inverseFrequencies(cfg), packedLayers, packed.get(lmHead),
                        packedMatmul);
            } else {
                vectorPass = null;
            }
        } catch (RuntimeException ex) {
            weights.close();
            throw ex;
        }
    }

    private NDArray keep(NDArray a) {
        a.attach(weights);
        return a;
    }

    public long parameterCount() {
        return parameterCount;
    }

    /**
     * {@link #forward}'s logits as floats: a pass that {@link VectorForwardPass} takes (decode steps, short prompts)
     * runs there, in Java, and returns that object's array (valid until the next call); any other runs on libtorch.
     * The pass's route, tokens and attention reads are added to {@code stats}.
     */
    public float[] logits(NDManager step, int[] tokens, Segment[] segs, boolean allLogits, EngineStepStats stats) {
        ForwardRoute route = vectorPass != null ? vectorPass.route(segs) : noVectorPass;
        stats.pass(route, tokens.length, entriesRead(segs));
        if (route.isJava()) {
            vectorPasses++;
            return vectorPass.run(tokens, segs, allLogits, matmulThreads >= 2 ? lanes().lanes() : null);
        }
        return forward(step, tokens, segs, allLogits).toFloatArray();
    }

    /**
     * Cache entries the pass's tokens attend over, one layer's worth (the mean over layers, whose budgets may differ):
     * a segment's token {@code t} reads the entries held before the pass and the pass's first {@code t + 1}.
     */
    private static long entriesRead(Segment[] segs) {
        long entries = 0;
        for (Segment seg : segs) {
            SequenceKvCache cache = seg.cache();
            long held = 0;
            for (int l = 0; l < cache.layerCount(); l++) {
                held += cache.layer(l).length();
            }
            held = cache.layerCount() == 0 ? 0 : held / cache.layerCount();
            entries += seg.count() * held + (long) seg.count() * (seg.count() + 1) / 2;
        }
        return entries;
    }

    /**
     * Runs the packed tokens through the model, appending each segment's K/V to its cache. Returns logits
     * {@code [rows, V]} owned by {@code step}: one row per token if {@code allLogits}, else each segment's last row.
     */
    NDArray forward(NDManager step, int[] tokens, Segment[] segs, boolean allLogits) {
        int n = tokens.length, h = cfg.heads(), k = cfg.kvHeads(), e = cfg.headDim(), g = h / k;
        long[] ids = new long[n];
        long[] pos = new long[n];
        long[] splits = new long[segs.length - 1];
        for (int s = 0, at = 0; s < segs.length; s++) {
            for (int t = 0; t < segs[s].count(); t++, at++) {
                ids[at] = tokens[at];
                pos[at] = segs[s].cache().positions() + t;
            }
            if (s > 0) {
                splits[s - 1] = at - segs[s].count();
            }
        }
        useThreads(n <= SMALL_BATCH ? 1 : matmulThreads); // see setThreads
        NDArray idIndex = step.create(ids);
        NDArray posIndex = step.create(pos);
        NDArray x = embed.get(step, new NDIndex("{}", idIndex)); // [N, D]
        NDArray cos = ropeCos.get(step, new NDIndex("{}", posIndex)).reshape(n, 1, e); // [N, 1, E]
        NDArray sin = ropeSin.get(step, new NDIndex("{}", posIndex)).reshape(n, 1, e); // [N, 1, E]

        boolean decodeOnly = segs.length > 1;
        for (Segment seg : segs) {
            decodeOnly &= seg.count() == 1 && seg.observeWindow() == 0;
        }
        NDArray[] causal = new NDArray[segs.length]; // [T, n] per prefill segment, reused while layers hold n entries
        for (int l = 0; l < layers.length; l++) {
            Layer w = layers[l];
            // ---- attention ----
            NDArray qkv = linear(rmsNorm(x), w.wqkv(), w.bqkv()); // [N, (H+2K)E]
            NDList qkAndV = qkv.split(new long[] {(long) (h + k) * e}, 1);
            NDArray qk = qkAndV.get(0).reshape(n, h + k, e); // [N, H+K, E]
            qk = qk.mul(cos).add(qk.matMul(rotateHalf).mul(sin)); // RoPE on q and k at once: [N, H+K, E]
            NDList qAndK = qk.split(new long[] {h}, 1);
            NDList q = split(qAndK.get(0), splits); // per segment [T, H, E]
            NDList kNew = split(qAndK.get(1), splits); // per segment [T, K, E]
            NDList vNew = split(qkAndV.get(1).reshape(n, k, e), splits); // per segment [T, K, E]
            NDArray batched = decodeOnly ? attendDecodeBatch(step, segs, l, qAndK.get(0), kNew, vNew, k, g, e) : null;
            NDList out = new NDList(segs.length);
            for (int s = 0; batched == null && s < segs.length; s++) {
                KvLayerStore cache = segs[s].cache().layer(l);
                int t = segs[s].count();
                cache.append(kNew.get(s).transpose(1, 0, 2), vNew.get(s).transpose(1, 0, 2)); // keys cached post-RoPE
                boolean decoding = t == 1 && segs[s].observeWindow() == 0;
                boolean windowed = cfg.slidingWindow() > 0 && cache.length() > cfg.slidingWindow();
                if (decoding && !windowed && cache instanceof DirectAttention direct) {
                    // quantized / low-rank stores attend on their stored form: no fp32 copy of the cache per step
                    out.add(direct.attend(q.get(s).reshape(k, g, e), step).reshape(1, (long) k * g * e));
                    continue;
                }
                NDArray keys = cache.keys(step); // [K, n, E]
                NDArray values = cache.values(step); // [K, n, E]
                NDArray mask = cache.attentionMask(step); // [K, 1, n] or null
                if (t == 1 && cfg.slidingWindow() > 0 && cache.length() > cfg.slidingWindow()) { // Mistral
                    NDIndex recent = new NDIndex().addAllDim().addSliceDim(cache.length() - cfg.slidingWindow(), cache.length());
                    keys = keys.get(recent);
                    values = values.get(recent);
                    mask = mask == null ? null : mask.get(new NDIndex().addAllDim(2).addSliceDim(
                            cache.length() - cfg.slidingWindow(), cache.length()));
                }
                if ((t > 1 || segs[s].observeWindow() > 0) && (causal[s] == null || causal[s].getShape().get(1) != cache.length())) {
                    causal[s] = causalMask(step, t, cache.length()); // layers differ in length after compaction
                }
                out.add(decoding
                        ? attendOne(q.get(s), keys, values, mask, k, g, e) // [1, H E]
                        : attendMany(q.get(s), keys, values, mask, causal[s], t, k, g, e, segs[s], l)); // [T, H E]
            }
            NDArray attn = batched != null ? batched : out.size() == 1 ? out.get(0) : NDArrays.concat(out, 0); // [N, H E]
            x = x.add(linear(attn, w.wo(), null)); // [N, D]
            // ---- MLP (SwiGLU) ----
            NDList gateUp = linear(rmsNorm(x), w.wGateUp(), null).split(2, 1); // 2 × [N, F]
            NDArray gate = gateUp.get(0);
            NDArray hidden = gate.mul(Activation.sigmoid(gate)).mul(gateUp.get(1)); // silu(gate)·up: [N, F]
            x = x.add(linear(hidden, w.wDown(), null)); // [N, D]
        }
        for (Segment seg : segs) {
            seg.cache().advance(seg.count());
        }
        if (!allLogits) {
            long[] last = new long[segs.length];
            for (int s = 0, at = 0; s < segs.length; s++) {
                at += segs[s].count();
                last[s] = at - 1;
            }
            if (segs.length != n) {
                x = x.get(step, new NDIndex("{}", step.create(last))); // [B, D]
            }
        }
        return linear(rmsNorm(x).mul(finalNorm), lmHead, null); // [rows, V]
    }

    /** Decode: one query per sequence. GQA without repeating K/V: q as [K, G, E] against [K, n, E]. */
    private static NDArray attendOne(NDArray q, NDArray keys, NDArray values, NDArray mask, int k, int g, int e) {
        NDArray scores = q.reshape(k, g, e).matMul(keys.transpose(0, 2, 1)); // [K, G, n]  (scale folded into q)
        if (mask != null) {
            scores = scores.add(mask);
        }
        return scores.softmax(-1).matMul(values).reshape(1, (long) k * g * e); // [K, G, E] -> [1, H E]
    }

    /**
     * Decode attention of a whole batch in one set of ops, when its caches are short: every sequence's keys and values
     * side by side ({@code [K, Σn, E]}), all queries against all of them, and a block-diagonal mask so that each query
     * sees only its own sequence. Per-sequence attention costs ~12 small ops per sequence and layer (≈ 115 µs: half
     * of a batch-16 step of the default model, docs/benchmarks.md); this costs ~5 per sequence plus a fixed dozen, at
     * the price of B× the score arithmetic, which stays below the saved overhead while Σn ≤ {@link #BATCHED_KEYS}.
     * Appends the new entries and returns {@code [B, H E]}; returns null, appending nothing, when the batch does not
     * qualify (dense stores without padding, no sliding window in reach, Σn small enough).
     */
    private NDArray attendDecodeBatch(NDManager step, Segment[] segs, int l, NDArray q, NDList kNew, NDList vNew,
            int k, int g, int e) {
        int b = segs.length;
        int[] lengths = new int[b];
        int total = 0;
        for (int s = 0; s < b; s++) {
            KvLayerStore cache = segs[s].cache().layer(l);
            lengths[s] = cache.length() + 1;
            total += lengths[s];
            boolean windowed = cfg.slidingWindow() > 0 && lengths[s] > cfg.slidingWindow();
            if (total > BATCHED_KEYS || windowed || cache instanceof DirectAttention || cache.attentionMask(step) != null) {
                return null;
            }
        }
        NDList keys = new NDList(b);
        NDList values = new NDList(b);
        for (int s = 0; s < b; s++) {
            KvLayerStore cache = segs[s].cache().layer(l);
            cache.append(kNew.get(s).transpose(1, 0, 2), vNew.get(s).transpose(1, 0, 2)); // keys cached post-RoPE
            keys.add(cache.keys(step));
            values.add(cache.values(step));
        }
        if (blockMask == null || blockMask.getManager() != step || !Arrays.equals(blockMaskLengths, lengths)) {
            // row (b, g), column j: 0 inside sequence b's block, -inf elsewhere; layers of a step share it unless
            // compaction made their lengths differ
            int size = b * g * total;
            if (maskBuffer.length < size) {
                maskBuffer = new float[size];
            }
            Arrays.fill(maskBuffer, 0, size, Float.NEGATIVE_INFINITY);
            for (int s = 0, offset = 0; s < b; offset += lengths[s], s++) {
                for (int r = s * g; r < (s + 1) * g; r++) {
                    Arrays.fill(maskBuffer, r * total + offset, r * total + offset + lengths[s], 0f);
                }
            }
            blockMask = step.create(java.nio.FloatBuffer.wrap(maskBuffer, 0, size), new Shape((long) b * g, total));
            blockMaskLengths = lengths;
        }
        NDArray qh = q.reshape(b, k, g, e).transpose(1, 0, 2, 3).reshape(k, (long) b * g, e); // [K, B G, E]
        NDArray scores = qh.matMul(NDArrays.concat(keys, 1).transpose(0, 2, 1)) // [K, B G, Σn]
                .add(blockMask);
        return scores.softmax(-1).matMul(NDArrays.concat(values, 1)) // [K, B G, E]
                .reshape(k, b, g, e).transpose(1, 0, 2, 3).reshape(b, (long) k * g * e); // [B, H E]
    }

    /** Prefill: T queries of one sequence; causal over the new entries, all older cache entries visible. */
    private static NDArray attendMany(NDArray q, NDArray keys, NDArray values, NDArray mask, NDArray causal, int t,
            int k, int g, int e, Segment seg, int layer) {
        long n = keys.getShape().get(1);
        NDArray qh = q.reshape(t, k, g, e).transpose(1, 2, 0, 3).reshape(k, (long) g * t, e); // [K, G T, E]
        NDArray scores = qh.matMul(keys.transpose(0, 2, 1)).reshape(k, g, t, n); // [K, G, T, n]
        scores = scores.add(causal); // + [T, n]
        if (mask != null) {
            scores = scores.add(mask.reshape(k, 1, 1, n));
        }
        NDArray probs = scores.softmax(-1); // [K, G, T, n]
        if (seg.observeWindow() > 0) { // trailing queries' attention for the compression hook
            int w = Math.min(seg.observeWindow(), t);
            seg.observed()[layer] = probs.get(seg.observedManager(), new NDIndex().addAllDim(2).addSliceDim(t - w, t))
                    .reshape(k * g, w, n); // [H, W, n]
        }
        if (seg.sums() != null) { // every query's attention, for H2O
            seg.sums().add(layer, probs.sum(new int[] {2}).reshape(k * g, n)); // [H, n]
        }
        return probs.reshape(k, (long) g * t, n).matMul(values) // [K, G T, E]
                .reshape(k, g, t, e).transpose(2, 0, 1, 3).reshape(t, (long) k * g * e); // [T, H E]
    }

    /**
     * 0 where query i (at cache slot n−T+i) may see key j, −∞ elsewhere: j ≤ n−T+i, and within Mistral's sliding
     * window when there is one (positions of a never-compacted cache equal its slots).
     */
    private NDArray causalMask(NDManager step, int t, long n) {
        float[] m = new float[(int) (t * n)];
        int window = cfg.slidingWindow();
        for (int i = 0; i < t; i++) {
            long self = n - t + i;
            for (long j = 0; j < n; j++) {
                boolean visible = j <= self && (window <= 0 || self - j < window);
                m[(int) (i * n + j)] = visible ? 0f : Float.NEGATIVE_INFINITY;
            }
        }
        return step.create(m, new Shape(t, n));
    }

    /** x / sqrt(mean(x²) + eps); the weight is folded into the next projection. */
    private NDArray rmsNorm(NDArray x) {
        return x.div(x.square().mean(new int[] {-1}, true).add(eps).sqrt());
    }

    /**
     * x @ Wᵀ (+ b). For 1–64 rows (decode) on the weights packed at load, when the JVM has the Vector API
     * ({@link PackedMatmul}). Otherwise, for a few rows, as (W @ xᵀ)ᵀ: MKL's small-M x @ Wᵀ path packs the whole
     * weight matrix on every call and ran 2–3× slower than W @ xᵀ for 2–16 rows on this AMD CPU (docs/benchmarks.md).
     */
    private NDArray linear(NDArray x, NDArray weight, NDArray bias) {
        long rows = x.getShape().get(0);
        PackedMatmul.PackedWeight p = packedMatmul == null ? null : packed.get(weight);
        if (p != null && rows >= PackedMatmul.MIN_ROWS && rows <= PackedMatmul.DECODE_ROWS) {
            NDArray y = packedMatmul.multiply(x, p, x.getManager(), matmulThreads >= 2 ? lanes().lanes() : null);
            return bias == null ? y : y.add(bias);
        }
        if (rows > SMALL_BATCH) {
            return Linear.linear(x, weight, bias).singletonOrThrow(); // one fused op
        }
        NDManager step = x.getManager();
        NDArray yT; // [out, N], made in the weights' manager...
        NDArray[] half = matmulThreads >= 2 ? halves.get(weight) : null;
        if (half != null) {
            yT = lanes().matMul(half[0], half[1], x.transpose()); // both cores stream their half of W
        } else {
            useThreads(matmulThreads);
            yT = weight.matMul(x.transpose());
            useThreads(1);
        }
        yT.attach(step); // ...so hand it to the step's
        NDArray y = yT.transpose(); // [N, out]
        return bias == null ? y : y.add(bias);
    }

    private TwoLaneMatmul lanes() {
        if (lanes == null) {
            lanes = new TwoLaneMatmul();
        }
        return lanes;
    }

    /** Passes that ran in Java ({@link VectorForwardPass}) so far. */
    public long vectorPasses() {
        return vectorPasses;
    }

    /** Whether decode products of 4–64 rows run on {@link PackedMatmul}. */
    public boolean packedMatmul() {
        return packedMatmul != null;
    }

    /**
     * Intra-op threads for the next passes: {@code matmul} for the weight matmuls of small (decode) passes, which
     * stream weights and gain from a second thread; every other small op of such a pass runs on one, because with
     * OMP_WAIT_POLICY=PASSIVE each parallel region wakes the sleeping worker (measured: per-sequence attention of a
     * batch-16 step took 40–96 ms on 2 threads, 25–30 ms on 1; best batch-16 step 144–158 ms vs 182–262 ms in an
     * interleaved A/B). Large (prefill) passes use {@code matmul} throughout.
     */
    public void setThreads(int matmul) {
        matmulThreads = matmul;
        useThreads(matmul);
    }

    private void useThreads(int n) {
        if (n != threadsNow) {
            ai.djl.pytorch.jni.JniUtils.setNumThreads(n);
            threadsNow = n;
        }
    }

    private static NDList split(NDArray a, long[] splits) {
        return splits.length == 0 ? new NDList(a) : a.split(splits, 0);
    }

    /** RoPE's inverse frequencies as Hugging Face computes them (fp32, llama3 rescaling of long wavelengths). */
    static float[] inverseFrequencies(ModelConfig cfg) {
        int e = cfg.headDim(), half = e / 2;
        float[] invFreq = new float[half];
        for (int i = 0; i < half; i++) {
            invFreq[i] = (float) (1.0 / Math.pow(cfg.ropeTheta(), (2.0 * i) / e));
        }
        ModelConfig.Llama3RopeScaling s = cfg.ropeScaling();
        if (s != null) { // transformers' _compute_llama3_parameters
            double lowWavelen = s.originalContext() / s.lowFreqFactor();
            double highWavelen = s.originalContext() / s.highFreqFactor();
            for (int i = 0; i < half; i++) {
                double wavelen = 2 * Math.PI / invFreq[i];
                double f = wavelen > lowWavelen ? invFreq[i] / s.factor() : invFreq[i];
                if (!(wavelen < highWavelen) && !(wavelen > lowWavelen)) {
                    double smooth = (s.originalContext() / wavelen - s.lowFreqFactor())
                            / (s.highFreqFactor() - s.lowFreqFactor());
                    f = (1 - smooth) * f / s.factor() + smooth * f;
                }
                invFreq[i] = (float) f;
            }
        }
        return invFreq;
    }

    /** cos/sin tables over the context, from {@link #inverseFrequencies}, duplicated over both halves of a head. */
    private static NDArray[] ropeTables(ModelConfig cfg, NDManager m) {
        int e = cfg.headDim(), half = e / 2, ctx = cfg.contextLength();
        float[] invFreq = inverseFrequencies(cfg);
        float[] cos = new float[ctx * e];
        float[] sin = new float[ctx * e];
        for (int p = 0; p < ctx; p++) {
            for (int i = 0; i < half; i++) {
                float angle = (float) p * invFreq[i]; // fp32 product, as torch does
                cos[p * e + i] = cos[p * e + half + i] = (float) Math.cos(angle);
                sin[p * e + i] = sin[p * e + half + i] = (float) Math.sin(angle);
            }
        }
        return new NDArray[] {m.create(cos, new Shape(ctx, e)), m.create(sin, new Shape(ctx, e))};
    }

    private static NDArray rotateHalfMatrix(int e, NDManager m) {
        float[] r = new float[e * e];
        int half = e / 2;
        for (int j = 0; j < half; j++) {
            r[(j + half) * e + j] = -1f; // out[j] = -x[j + E/2]
            r[j * e + j + half] = 1f; // out[j + E/2] = x[j]
        }
        return m.create(r, new Shape(e, e));
    }

    @Override
    public void close() {
        if (lanes != null) {
            lanes.close();
        }
        weights.close();
    }
}
