package io.kvpilot.engine.batch;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.kvpilot.engine.EngineOptions;
import io.kvpilot.engine.EngineStepStats;
import io.kvpilot.engine.GenerationEngine;
import io.kvpilot.engine.ModelInfo;
import io.kvpilot.engine.SamplingParams;
import io.kvpilot.engine.Sequence;
import io.kvpilot.engine.TextCodec;
import io.kvpilot.engine.model.AttentionSums;
import io.kvpilot.engine.model.HfTextCodec;
import io.kvpilot.engine.model.ModelConfig;
import io.kvpilot.engine.model.Segment;
import io.kvpilot.engine.torch.LlamaModel;
import io.kvpilot.kvcache.KvBlockPool;
import io.kvpilot.kvcache.KeptPositions;
import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.kvcache.KvCompressor;
import io.kvpilot.kvcache.KvLayout;
import io.kvpilot.kvcache.PrefillObservation;
import io.kvpilot.kvcache.SequenceKvCache;
import io.kvpilot.kvcache.press.KvFootprint;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * {@link GenerationEngine} for the LLaMA family: runs each step's prefill pieces and decode batch through
 * {@link LlamaModel#logits} as {@link StepPlanner} plans them, runs the compression hook, and hands each pass's logits
 * to {@link TokenAcceptor} (sampling and stopping). The sequences' state and their caches' lifetime are
 * {@link SequenceTable}'s. Single-threaded: all methods run on the scheduler's engine thread.
 *
 * <p>A sequence's cache is freed the moment it finishes (its final byte counts are recorded first); {@link #release}
 * frees whatever is left and forgets the sequence, idempotently.
 */
public final class LlamaEngine implements GenerationEngine {

    private static final System.Logger LOG = System.getLogger(LlamaEngine.class.getName());

    private final ModelConfig cfg;
    private final LlamaModel model;
    private final HfTextCodec codec;
    private final NDManager root;
    private final EngineOptions options;
    private final ModelInfo info;
    private final KvLayout layout;
    private final KvBlockPool pool;
    private final Set<Integer> eos;
    private final SequenceTable states;
    private final StepPlanner planner;
    private final TokenAcceptor acceptor;
    private final EngineStepStats stats = new EngineStepStats();
    private boolean closed;

    public LlamaEngine(String id, ModelConfig cfg, LlamaModel model, HfTextCodec codec, NDManager root, EngineOptions options) {
        this.cfg = cfg;
        this.model = model;
        this.codec = codec;
        this.root = root;
        this.options = options;
        this.layout = new KvLayout(cfg.layers(), cfg.kvHeads(), cfg.headDim(), Float.BYTES);
        this.pool = new KvBlockPool(options.kvBudgetBytes());
        this.eos = cfg.eosIds();
        this.info = new ModelInfo(id, cfg.architecture(), cfg.contextLength(), cfg.vocabSize(), cfg.layers(),
                cfg.kvHeads(), cfg.headDim(), layout.bytesPerToken(), model.parameterCount());
        this.states = new SequenceTable(options.compressors(), codec, pool, root, layout);
        this.planner = new StepPlanner(states, options.prefillChunkTokens(), options.maxBatchSize());
        this.acceptor = new TokenAcceptor(cfg.vocabSize(), cfg.contextLength(), eos, states);
        LOG.log(System.Logger.Level.INFO, model.packedMatmul()
                ? "Decode steps and short prompts run on KVPilot's Java forward pass (Vector API)"
                : "Decode runs on libtorch: KVPilot's Java forward pass needs --add-modules jdk.incubator.vector and"
                        + " a CPU with AVX2 (1.4-4x faster decode, docs/benchmarks.md)");
    }

    @Override
    public ModelInfo modelInfo() {
        return info;
    }

    /** The tokenizer and chat template; throws if the checkpoint has no tokenizer.json (id-level use only). */
    @Override
    public TextCodec textCodec() {
        if (codec == null) {
            throw new IllegalStateException("checkpoint " + info.id() + " has no tokenizer.json");
        }
        return codec;
    }

    public boolean hasTextCodec() {
        return codec != null;
    }

    /** The KV pool: budget, bytes in use, peak. */
    public KvBlockPool kvPool() {
        return pool;
    }

    public EngineOptions options() {
        return options;
    }

    /** Forward passes run in Java on the Vector API kernels so far (the rest ran on libtorch); for tests. */
    long vectorPasses() {
        return model.vectorPasses();
    }

    /** Whether batched decode products run on the packed Vector API kernel (else on libtorch). */
    public boolean packedMatmul() {
        return model.packedMatmul();
    }

    /** Intra-op threads used for prefill and for decode steps. */
    public int[] threads() {
        return new int[] {options.effectiveThreads(), options.effectiveDecodeThreads(model.parameterCount(), model.packedMatmul())};
    }

    public KvLayout kvLayout() {
        return layout;
    }

    /** Token ids that end generation (generation_config.json). */
    public Set<Integer> eosTokenIds() {
        return eos;
    }

    /** The sequence's KV cache while it holds one (for compression and evaluation code); else null. */
    public SequenceKvCache kvCache(Sequence sequence) {
        SequenceState s = states.get(sequence);
        return s == null ? null : s.cache;
    }

    @Override
    public Sequence newSequence(String id, int[] promptIds, SamplingParams sampling, KvCompressionSpec compression) {
        if (promptIds.length == 0) {
            throw new IllegalArgumentException("prompt must have at least one token");
        }
        if (promptIds.length >= cfg.contextLength()) {
            throw new IllegalArgumentException("prompt of " + promptIds.length + " tokens leaves no room in the context"
                    + " window of " + cfg.contextLength());
        }
        for (int t : promptIds) {
            if (t < 0 || t >= cfg.vocabSize()) {
                throw new IllegalArgumentException("token id " + t + " outside the vocabulary [0, " + cfg.vocabSize() + ")");
            }
        }
        checkWindow(compression);
        return new Sequence(id, promptIds, sampling, compression);
    }

    @Override
    public void checkServable(KvCompressionSpec compression) {
        options.compressors().forSpec(compression).checkHeadDim(cfg.headDim());
        checkWindow(compression);
    }

    /**
     * The part of {@link #checkServable} a new sequence is held to. The head-dimension check is left to admission: it
     * asks the compressor lookup, and a lookup may hand its compressor out once (the evaluation harness's hooks); a
     * sequence that gets past it anyway fails alone at the end of its prefill.
     */
    private void checkWindow(KvCompressionSpec compression) {
        if (compression.ratio() > 0 && cfg.slidingWindow() > 0 && cfg.slidingWindow() < cfg.contextLength()) {
            // decode reads a windowed model's last W cache slots; after eviction those are not the last W positions
            throw new IllegalArgumentException("eviction (ratio > 0) is not supported on a model with a sliding window"
                    + " (" + cfg.slidingWindow() + " < context " + cfg.contextLength() + "); use ratio 0 with bits");
        }
    }

    @Override
    public void prefill(List<Sequence> sequences) {
        stats.reset();
        prefill(sequences, false);
        stats.sequences(sequences.size());
    }

    /** The last {@link #step}, {@link #prefill} or {@link #decode} call's passes; overwritten by the next call. */
    @Override
    public EngineStepStats lastStepStats() {
        return stats;
    }

    /**
     * Like {@link #prefill(List)}, and returns each sequence's logits at every prompt position ({@code [T][V]}, in
     * the order given; null for a sequence skipped because it was finished). For parity tests and evaluation.
     */
    public List<float[][]> prefillWithLogits(List<Sequence> sequences) {
        stats.reset();
        return prefill(sequences, true);
    }

    /**
     * Like {@link #prefill(List)}, but each sequence appends the token {@code chooser} picks from its logits instead of
     * a sampled one (teacher forcing, for evaluation: {@code io.kvpilot.eval}).
     */
    public void prefill(List<Sequence> sequences, TokenChooser chooser) {
        stats.reset();
        prefill(sequences, false, chooser);
        stats.sequences(sequences.size());
    }

    /** Like {@link #decode(List)}, but each sequence appends the token {@code chooser} picks (teacher forcing). */
    public void decode(List<Sequence> batch, TokenChooser chooser) {
        stats.reset();
        decode(batch, false, chooser);
        stats.sequences(batch.size());
    }

    @Override
    public void decode(List<Sequence> batch) {
        stats.reset();
        decode(batch, false);
        stats.sequences(batch.size());
    }

    /** Like {@link #decode(List)}, and returns the logits row each sequence sampled from (null if it sat out). */
    public List<float[]> decodeWithLogits(List<Sequence> batch) {
        stats.reset();
        return decode(batch, true);
    }

    private List<float[][]> prefill(List<Sequence> sequences, boolean keepAllLogits) {
        return prefill(sequences, keepAllLogits, null);
    }

    private List<float[][]> prefill(List<Sequence> sequences, boolean keepAllLogits, TokenChooser chooser) {
        checkOpen();
        List<float[][]> result = new ArrayList<>();
        for (int i = 0; i < sequences.size(); i++) {
            result.add(null);
        }
        List<Sequence> pending = states.open(sequences);
        float[][][] allLogits = new float[pending.size()][][];
        float[][] lastLogits = new float[pending.size()][];
        feed(pending, planner.quotas(pending, Integer.MAX_VALUE), keepAllLogits, allLogits, lastLogits);
        for (int i = 0; i < pending.size(); i++) {
            Sequence seq = pending.get(i);
            if (seq.isFinished()) {
                continue;
            }
            result.set(sequences.indexOf(seq), allLogits[i]);
            acceptor.accept(seq, states.get(seq), lastLogits[i], 0, chooser);
        }
        return result;
    }

    /**
     * Feeds {@code quota[i]} more prompt tokens of each of {@code pending}, in the passes {@link StepPlanner} packs.
     * {@code lastLogits[i]} is set to the logits of the prompt's last position for a sequence whose prompt is now all
     * in (its cache is then compressed); {@code allLogits[i]} grows by every fed position's logits when {@code keepAll}.
     */
    private void feed(List<Sequence> pending, int[] quota, boolean keepAll, float[][][] allLogits,
            float[][] lastLogits) {
        int[] left = quota.clone();
        StepPlanner.PrefillPass pass;
        while ((pass = planner.nextPrefillPass(pending, left)) != null) {
            runPrefillPass(pending, pass.members(), pass.takes(), keepAll, allLogits, lastLogits);
        }
    }

    /** The sequence's attention sums, started at its first prefill piece when its compressor wants them. */
    private AttentionSums sumsFor(SequenceState state) {
        if (state.sums == null && state.compressor.wantsAttentionSums()) {
            state.sums = new AttentionSums(state.cache.manager(), cfg.layers());
        }
        return state.sums;
    }

    /** Runs the compression hook on a freshly prefilled cache, then drops what it observed. */
    /**
     * {@link #compressAfterPrefill}, failing only {@code seq} if its compression throws: the pass's other sequences
     * (prompts and decoding streams sharing it) are done with it by then and go on. Returns whether it succeeded.
     */
    private boolean compressAlone(Sequence seq, SequenceState state, NDArray[] observed, int window) {
        try {
            compressAfterPrefill(seq, state, observed, window);
            return true;
        } catch (RuntimeException e) {
            states.fail(seq, e);
            return false;
        }
    }

    private void compressAfterPrefill(Sequence seq, SequenceState state, NDArray[] observed, int window) {
        NDArray[] sums = state.sums == null ? null : state.sums.perLayer();
        try {
            PrefillObservation observation =
                    new PrefillObservation(seq.promptLength(), observed == null ? 0 : window, observed, sums);
            if (seq.tracesKeptPositions()) {
                KeptPositions kept = new KeptPositions(cfg.layers(), layout.kvHeads(), seq.promptLength());
                state.compressor.afterPrefill(state.cache, observation, kept);
                seq.recordKeptPositions(kept);
            } else {
                state.compressor.afterPrefill(state.cache, observation);
            }
            state.cache.pool().markPeak(); // from here on: KvFootprint#peakAfterPrefillBytes
        } finally {
            if (state.sums != null) {
                state.sums.close();
                state.sums = null;
            }
        }
    }

    private void runPrefillPass(List<Sequence> pending, List<Integer> pass, List<Integer> takes, boolean keepAll,
            float[][][] allLogits, float[][] lastLogits) {
        Segment[] segs = new Segment[pass.size()];
        int[] ids = new int[takes.stream().mapToInt(Integer::intValue).sum()];
        NDManager observed = root.newSubManager();
        NDArray[][] observations = new NDArray[pass.size()][];
        for (int s = 0, at = 0; s < segs.length; s++) {
            Sequence seq = pending.get(pass.get(s));
            SequenceState state = states.get(seq);
            int take = takes.get(s);
            System.arraycopy(seq.promptIds(), state.prefilled, ids, at, take);
            at += take;
            segs[s] = promptSegment(seq, state, take, observed, observations, s);
        }
        useThreads(options.effectiveThreads());
        try (NDManager step = root.newSubManager()) {
            float[] logits = model.logits(step, ids, segs, keepAll, stats);
            int v = cfg.vocabSize();
            for (int s = 0, row = 0; s < segs.length; s++) {
                int i = pass.get(s);
                int rows = keepAll ? takes.get(s) : 1;
                if (keepAll) {
                    float[][] prev = allLogits[i] == null ? new float[0][] : allLogits[i];
                    float[][] grown = java.util.Arrays.copyOf(prev, prev.length + rows);
                    for (int r = 0; r < rows; r++) {
                        grown[prev.length + r] = java.util.Arrays.copyOfRange(logits, (row + r) * v, (row + r + 1) * v);
                    }
                    allLogits[i] = grown;
                }
                Sequence seq = pending.get(i);
                SequenceState state = states.get(seq);
                state.prefilled += takes.get(s);
                if (state.prefilled == seq.promptLength()) {
                    lastLogits[i] = java.util.Arrays.copyOfRange(logits, (row + rows - 1) * v, (row + rows) * v);
                    compressAlone(seq, state, observations[s], segs[s].observeWindow());
                }
                row += rows;
            }
        } catch (RuntimeException e) {
            for (int s = 0; s < segs.length; s++) {
                states.fail(pending.get(pass.get(s)), e);
            }
        } finally {
            observed.close();
        }
    }

    /**
     * The segment that feeds the next {@code take} prompt tokens of {@code seq}; the piece that completes the prompt
     * also records the compressor's observation window into {@code observations[slot]}.
     */
    private Segment promptSegment(Sequence seq, SequenceState state, int take, NDManager observed,
            NDArray[][] observations, int slot) {
        boolean last = state.prefilled + take == seq.promptLength();
        int window = last ? state.compressor.observationWindow() : 0;
        observations[slot] = window > 0 ? new NDArray[cfg.layers()] : null;
        return new Segment(state.cache, take, window, observations[slot], observed, sumsFor(state));
    }

    private List<float[]> decode(List<Sequence> batch, boolean keepLogits) {
        return decode(batch, keepLogits, null);
    }

    private List<float[]> decode(List<Sequence> batch, boolean keepLogits, TokenChooser chooser) {
        checkOpen();
        List<float[]> result = new ArrayList<>(batch.size());
        for (int i = 0; i < batch.size(); i++) {
            result.add(null);
        }
        List<Sequence> active = planner.decodable(batch);
        for (int from = 0; from < active.size(); from += options.maxBatchSize()) {
            List<Sequence> part = active.subList(from, Math.min(active.size(), from + options.maxBatchSize()));
            decodePass(part, keepLogits, batch, result, chooser);
        }
        return result;
    }

    @Override
    public void step(List<Sequence> admitted, List<Sequence> running) {
        step(admitted, running, Integer.MAX_VALUE);
    }

    /**
     * Feeds the prompts of {@code prefilling} ({@code prefillTokens} tokens in all, see {@link StepPlanner#quotas})
     * and decodes {@code running}, in one forward pass when together they are at most
     * {@value StepPlanner#ONE_PASS_TOKENS} tokens (the size the Java pass takes) and every prompt's share is one
     * prefill piece: one read of the weights instead of two, which at these sizes is most of a pass's cost (a
     * 7-token prompt costs about what a decode step does). Otherwise
     * the prompt pieces run first, then the decode pass. A sequence whose prompt is not all in yet keeps its cache
     * and position for the next step; one cancelled meanwhile finishes and frees its cache here.
     */
    @Override
    public void step(List<Sequence> prefilling, List<Sequence> running, int prefillTokens) {
        checkOpen();
        if (prefillTokens < 1) {
            throw new IllegalArgumentException("prefillTokens must be positive: " + prefillTokens);
        }
        stats.reset();
        List<Sequence> decoding = planner.decodable(running);
        List<Sequence> fed = planner.feedable(prefilling);
        int[] quota = planner.quotas(fed, prefillTokens);
        stats.sequences(prefilling.size() + decoding.size());
        if (!planner.onePass(fed, quota, decoding)) {
            float[][] lastLogits = new float[fed.size()][];
            feed(fed, quota, false, new float[fed.size()][][], lastLogits);
            for (int i = 0; i < fed.size(); i++) {
                if (lastLogits[i] != null && !fed.get(i).isFinished()) {
                    acceptor.accept(fed.get(i), states.get(fed.get(i)), lastLogits[i], 0, null);
                }
            }
            decode(decoding, false);
            return;
        }
        List<Sequence> pieces = new ArrayList<>();
        List<Integer> takes = new ArrayList<>();
        int promptTokens = 0;
        for (int i = 0; i < fed.size(); i++) {
            if (quota[i] > 0) {
                pieces.add(fed.get(i));
                takes.add(quota[i]);
                promptTokens += quota[i];
            }
        }
        List<Sequence> ready = withRoom(decoding, 1);
        int b = pieces.size() + ready.size(), v = cfg.vocabSize();
        int[] ids = new int[promptTokens + ready.size()];
        Segment[] segs = new Segment[b];
        NDManager observed = root.newSubManager();
        NDArray[][] observations = new NDArray[pieces.size()][];
        int at = 0;
        for (int i = 0; i < pieces.size(); i++) {
            Sequence seq = pieces.get(i);
            SequenceState state = states.get(seq);
            System.arraycopy(seq.promptIds(), state.prefilled, ids, at, takes.get(i));
            at += takes.get(i);
            segs[i] = promptSegment(seq, state, takes.get(i), observed, observations, i);
        }
        for (int i = 0; i < ready.size(); i++) {
            ids[at++] = ready.get(i).lastToken();
            segs[pieces.size() + i] = Segment.of(states.get(ready.get(i)).cache, 1);
        }
        useThreads(options.effectiveDecodeThreads(model.parameterCount(), model.packedMatmul()));
        try (NDManager step = root.newSubManager()) {
            float[] logits = model.logits(step, ids, segs, false, stats); // [B, V]: each sequence's last token
            for (int i = 0; i < pieces.size(); i++) {
                Sequence seq = pieces.get(i);
                SequenceState state = states.get(seq);
                state.prefilled += takes.get(i);
                if (state.prefilled == seq.promptLength() && compressAlone(seq, state, observations[i],
                        segs[i].observeWindow())) {
                    acceptor.accept(seq, state, logits, i * v, null);
                }
            }
            for (int i = 0; i < ready.size(); i++) {
                decoded(ready.get(i), logits, (pieces.size() + i) * v, null);
            }
        } catch (RuntimeException e) {
            for (Sequence seq : pieces) {
                states.fail(seq, e);
            }
            for (Sequence seq : ready) {
                states.fail(seq, e);
            }
        } finally {
            observed.close();
        }
    }

    /**
     * After a decode pass: counts the step, takes the token from {@code logits[offset..]} (sampled, or picked by
     * {@code chooser} when not null) and runs the compressor's decode-time hook when due.
     */
    private void decoded(Sequence seq, float[] logits, int offset, TokenChooser chooser) {
        SequenceState state = states.get(seq);
        state.decodeSteps++;
        acceptor.accept(seq, state, logits, offset, chooser);
        int every = state.compressor.decodeInterval();
        if (!seq.isFinished() && every > 0 && state.decodeSteps % every == 0) {
            state.compressor.duringDecode(state.cache);
            seq.recordKvBytes(state.cache.bytes(), state.cache.bytesUncompressed());
        }
    }

    private void decodePass(List<Sequence> part, boolean keepLogits, List<Sequence> batch, List<float[]> result,
            TokenChooser chooser) {
        part = withRoom(part, 1);
        if (part.isEmpty()) {
            return;
        }
        int b = part.size(), v = cfg.vocabSize();
        int[] ids = new int[b];
        Segment[] segs = new Segment[b];
        for (int i = 0; i < b; i++) {
            ids[i] = part.get(i).lastToken();
            segs[i] = Segment.of(states.get(part.get(i)).cache, 1);
        }
        float[] logits;
        useThreads(options.effectiveDecodeThreads(model.parameterCount(), model.packedMatmul()));
        try (NDManager step = root.newSubManager()) {
            logits = model.logits(step, ids, segs, false, stats); // [B, V], until the next pass
        } catch (RuntimeException e) {
            for (Sequence seq : part) {
                states.fail(seq, e);
            }
            return;
        }
        for (int i = 0; i < b; i++) {
            Sequence seq = part.get(i);
            if (keepLogits) {
                result.set(batch.indexOf(seq), java.util.Arrays.copyOfRange(logits, i * v, (i + 1) * v));
            }
            decoded(seq, logits, i * v, chooser);
        }
    }

    /**
     * The sequences of {@code part} whose caches could make room for {@code tokens} more positions; the others fail
     * alone (budget exhausted) instead of failing the whole pass halfway through.
     */
    private List<Sequence> withRoom(List<Sequence> part, int tokens) {
        List<Sequence> ok = new ArrayList<>(part.size());
        for (Sequence seq : part) {
            try {
                states.get(seq).cache.reserve(tokens);
                ok.add(seq);
            } catch (RuntimeException e) {
                states.fail(seq, e);
            }
        }
        return ok;
    }

    /** libtorch's intra-op thread count for the next pass (see {@link LlamaModel#setThreads}). */
    private void useThreads(int n) {
        model.setThreads(n);
    }

    /**
     * The cache keeps {@code floor(positions × (1 − ratio))} entries per head, chosen by the target method's scorer
     * among those it holds (so a second recompression of the same ratio frees nothing), and is converted to the
     * target's bits only when they are fewer than its own.
     */
    @Override
    public long recompress(Sequence seq, KvCompressionSpec target) {
        checkOpen();
        SequenceState state = states.get(seq);
        if (state == null || state.cache == null || seq.isFinished() || state.prefilled < seq.promptLength()) {
            return 0; // a prompt still prefilling is compressed once it is all in, by its own spec
        }
        KvCompressor method = options.compressors().forSpec(target);
        if (method.observationWindow() > 0) {
            throw new IllegalArgumentException(target.method() + " scores entries with the prompt's window attention,"
                    + " which a running cache no longer has; recompress with a query-agnostic method");
        }
        SequenceKvCache cache = state.cache;
        long before = cache.bytes();
        int held = cache.layer(0).length();
        int keep = io.kvpilot.kvcache.press.BudgetSchedule.uniformKeep(cache.positions(), target.ratio());
        double ratio = target.method().equals("none") || keep >= held ? 0.0 : 1.0 - (double) keep / held;
        int bits = target.bits() < state.applied.bits() ? target.bits() : 16; // 16: keep the store as it is
        KvCompressionSpec step = new KvCompressionSpec(ratio == 0.0 && !target.method().equals("none") && bits == 16
                ? "none" : target.method(), ratio, bits);
        options.compressors().forSpec(step).afterPrefill(cache, PrefillObservation.none(cache.positions()));
        state.compressor = method;
        state.applied = new KvCompressionSpec(target.method(), Math.max(target.ratio(), state.applied.ratio()),
                Math.min(target.bits(), state.applied.bits()));
        seq.recordKvBytes(cache.bytes(), cache.bytesUncompressed());
        return before - cache.bytes();
    }

    @Override
    public long recompressionPeakBytes(Sequence seq, KvCompressionSpec target) {
        SequenceState state = states.get(seq);
        if (state == null || state.cache == null) {
            return 0;
        }
        SequenceKvCache cache = state.cache;
        long largestLayer = 0;
        for (int l = 0; l < cache.layerCount(); l++) {
            largestLayer = Math.max(largestLayer, cache.layer(l).bytes());
        }
        // layer by layer: a compaction copy of the kept entries and the converted store, each at most the layer's
        // size, live beside the whole cache; a block of capacity per copy covers their rounding
        return cache.bytes() + 2 * largestLayer
                + 2L * io.kvpilot.kvcache.KvBlockPool.BLOCK_TOKENS * layout.bytesPerTokenPerLayer();
    }

    /**
     * {@inheritDoc} A live cache's stores were grown by appends, not sized for the prompt, and its decode-time
     * boundings fall on the sequence's own step count: within one block of dense capacity per layer of a fresh
     * prompt's footprint ({@code RecompressFootprintTest}), which is added.
     */
    @Override
    public long predictHeldAfterRecompression(KvCompressionSpec target, int promptTokens, int generatedTokens,
            int maxTokens) {
        return GenerationEngine.super.predictHeldAfterRecompression(target, promptTokens, generatedTokens, maxTokens)
                + (long) io.kvpilot.kvcache.KvBlockPool.BLOCK_TOKENS * layout.bytesPerToken();
    }

    @Override
    public KvFootprint predictKv(KvCompressionSpec spec, int promptTokens, int maxTokens) {
        return KvFootprint.predict(layout, options.compressors().forSpec(spec), promptTokens, maxTokens);
    }

    @Override
    public void release(Sequence sequence) {
        states.release(sequence);
    }

    @Override
    public long kvBytesInUse() {
        return pool.bytesInUse();
    }

    /** Sequences the engine holds state for (released ones excluded). */
    public int liveSequences() {
        return states.size();
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("engine closed");
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        states.closeAll();
        model.close();
        if (codec != null) {
            codec.close();
        }
        root.close();
    }
}
