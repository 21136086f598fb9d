package io.kvpilot.eval;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.kvpilot.engine.EngineLoader;
import io.kvpilot.engine.EngineOptions;
import io.kvpilot.engine.batch.LlamaEngine;
import io.kvpilot.engine.SamplingParams;
import io.kvpilot.engine.Sequence;
import io.kvpilot.kvcache.DenseKvLayerStore;
import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.kvcache.KvCompressor;
import io.kvpilot.kvcache.KvLayout;
import io.kvpilot.kvcache.PrefillObservation;
import io.kvpilot.kvcache.SequenceKvCache;
import io.kvpilot.kvcache.press.KvMethods;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.BiConsumer;

/**
 * Runs one evaluation case (a context, then teacher-forced tokens, then greedy answer tokens) under many compression
 * specs at once. The context is prefilled <b>once</b>: a capturing hook copies its dense K/V and the observation
 * window's attention. Each spec then gets a sequence whose one-token prompt is replaced, inside the engine's own
 * {@code afterPrefill} hook, by a copy of the captured cache (same capacity, same RoPE positions: the cache's position
 * counter is advanced to the context length) before the spec's method compresses it — exactly what the method sees
 * after a real prefill, without paying the prefill once per spec. All specs of a case then decode as one batch: the
 * forced tokens (the question, or the text whose perplexity is measured) and the greedy answer.
 *
 * <p>{@link #runDirect} runs the same case the ordinary way (real prefill of the context, no graft) as a reference.
 */
public final class CellRunner implements AutoCloseable {

    /** What one spec produced for one case. */
    public record Result(KvCompressionSpec spec, int[] generated, double[] logProbs, long bytes, long bytesUncompressed,
            int contextTokens) {
        /** Generated tokens after the forced ones, up to (excluding) the first EOS. */
        public int[] answer(int forcedCount, Set<Integer> eos) {
            int end = forcedCount;
            while (end < generated.length && !eos.contains(generated[end])) {
                end++;
            }
            return Arrays.copyOfRange(generated, forcedCount, end);
        }

        /** Sum of -log p over forced tokens 1.. (token 0 is predicted from the uncompressed prefill). */
        public double nll() {
            double s = 0;
            for (int i = 1; i < logProbs.length; i++) {
                s -= logProbs[i];
            }
            return s;
        }
    }

    private final LlamaEngine engine;
    private final TeacherForcing forcing;
    private final KvMethods registry;
    private final Map<String, KvCompressor> pending = new HashMap<>();
    private final NDManager keep;
    private int serial;
    private BiConsumer<SequenceKvCache, PrefillObservation> prefillProbe = (c, o) -> {};

    private CellRunner(LlamaEngine engine, KvMethods registry, NDManager keep) {
        this.engine = engine;
        this.forcing = new TeacherForcing(engine);
        this.registry = registry;
        this.keep = keep;
    }

    /** Loads {@code model} with a compressor lookup that serves this runner's hooks and the registry's methods. */
    public static CellRunner load(Path model, EngineOptions options, KvMethods registry) {
        CellRunner[] self = new CellRunner[1];
        LlamaEngine engine = EngineLoader.load(model, options.withCompressors(spec -> {
            KvCompressor hook = self[0].pending.remove(spec.method());
            return hook != null ? hook : registry.create(spec);
        }));
        self[0] = new CellRunner(engine, registry, NDManager.newBaseManager("PyTorch"));
        return self[0];
    }

    public LlamaEngine engine() {
        return engine;
    }

    /**
     * Called with each context's prefilled, uncompressed cache and its observation before {@link #run} copies them
     * (e.g. to record per-prompt statistics of the scores); must not change the cache.
     */
    public void onPrefill(BiConsumer<SequenceKvCache, PrefillObservation> probe) {
        this.prefillProbe = Objects.requireNonNull(probe, "probe");
    }

    /**
     * Bytes {@code tokens} take uncompressed, the reference of the byte fractions: as the API's
     * {@code bytes_uncompressed}, what this server's dense fp32 cache holds for them (without block rounding).
     */
    public long bytesUncompressed(int tokens) {
        KvLayout l = engine.kvLayout();
        return tokens * l.bytesPerToken();
    }

    private KvCompressionSpec hookSpec(KvCompressor hook) {
        String name = "eval_hook_" + (serial++);
        pending.put(name, hook);
        return new KvCompressionSpec(name, 0.0, 16);
    }

    private static SamplingParams params(int forced, int answerTokens, boolean ignoreEos) {
        return new SamplingParams(0.0, 1.0, 0, 0L, Math.max(1, forced + answerTokens), List.of(), ignoreEos);
    }

    /** The captured prefill of one context. */
    private final class Captured implements KvCompressor, AutoCloseable {
        final NDManager owner = keep.newSubManager();
        NDArray[] keys;
        NDArray[] values;
        NDArray[] attention;
        NDArray[] sums;
        int length;
        int window;
        final boolean wantsSums;

        Captured(boolean wantsSums) {
            this.wantsSums = wantsSums;
        }

        @Override
        public int observationWindow() {
            return KvMethods.OBSERVATION_WINDOW;
        }

        @Override
        public boolean wantsAttentionSums() {
            return wantsSums; // for h2o: the capture then prefills on libtorch, as a real h2o prefill does
        }

        @Override
        public void afterPrefill(SequenceKvCache cache, PrefillObservation obs) {
            int n = cache.layerCount();
            keys = new NDArray[n];
            values = new NDArray[n];
            attention = obs.attention() == null ? null : new NDArray[n];
            sums = obs.attentionSums() == null ? null : new NDArray[n];
            length = obs.promptLength();
            window = obs.window();
            prefillProbe.accept(cache, obs);
            try (NDManager tmp = cache.manager().newSubManager()) {
                for (int l = 0; l < n; l++) {
                    keys[l] = own(cache.layer(l).keys(tmp).duplicate());
                    values[l] = own(cache.layer(l).values(tmp).duplicate());
                    if (attention != null) {
                        attention[l] = own(obs.attention(l).duplicate());
                    }
                    if (sums != null) {
                        sums[l] = own(obs.attentionSums(l).duplicate());
                    }
                }
            }
        }

        private NDArray own(NDArray a) {
            a.attach(owner);
            return a;
        }

        @Override
        public void close() {
            owner.close();
        }
    }

    /** Replaces a one-token prompt's cache by a copy of the captured one, then compresses it with {@code method}. */
    private final class Graft implements KvCompressor {
        final Captured captured;
        final KvCompressor method;
        long bytes;

        Graft(Captured captured, KvCompressor method) {
            this.captured = captured;
            this.method = method;
            if (method.observationWindow() != 0 && method.observationWindow() != captured.window) {
                throw new IllegalStateException("method window " + method.observationWindow() + " != captured "
                        + captured.window);
            }
        }

        @Override
        public void afterPrefill(SequenceKvCache cache, PrefillObservation unused) {
            if (cache.positions() != 1) {
                throw new IllegalStateException("graft expects a one-token prompt, cache has " + cache.positions());
            }
            KvLayout layout = cache.layout();
            for (int l = 0; l < cache.layerCount(); l++) {
                // the capacity a real prefill of the context allocates (SequenceKvCache(..., promptLength + 1))
                DenseKvLayerStore store = new DenseKvLayerStore(cache.pool(), cache.manager(), layout.kvHeads(),
                        layout.headDim(), captured.length + 1);
                store.append(captured.keys[l], captured.values[l]);
                cache.replaceLayer(l, store);
            }
            cache.advance(captured.length - 1);
            PrefillObservation obs = new PrefillObservation(captured.length,
                    captured.attention == null ? 0 : captured.window, captured.attention, captured.sums);
            method.afterPrefill(cache, obs);
            bytes = cache.bytes();
        }

        @Override
        public int decodeInterval() {
            return method.decodeInterval();
        }

        @Override
        public void duringDecode(SequenceKvCache cache) {
            method.duringDecode(cache);
        }
    }

    /**
     * Runs {@code context}, then {@code forced} teacher-forced, then up to {@code answerTokens} greedy tokens (stopping
     * at EOS unless {@code ignoreEos}), under every spec; one result per spec, in order. {@code forced} must not be
     * empty (its first token is the first input after the compressed context).
     */
    public List<Result> run(int[] context, int[] forced, int answerTokens, boolean ignoreEos,
            List<KvCompressionSpec> specs) {
        if (forced.length == 0) {
            throw new IllegalArgumentException("at least one forced token");
        }
        boolean sums = specs.stream().anyMatch(spec -> registry.create(spec).wantsAttentionSums());
        try (Captured captured = new Captured(sums)) {
            Sequence cap = engine.newSequence("capture", context, SamplingParams.greedy(1), hookSpec(captured));
            engine.prefill(List.of(cap));
            engine.release(cap);
            if (captured.keys == null) {
                throw new IllegalStateException("capture failed: " + cap.finishReason());
            }
            List<Sequence> seqs = new ArrayList<>();
            List<Graft> grafts = new ArrayList<>();
            for (KvCompressionSpec spec : specs) {
                Graft g = new Graft(captured, registry.create(spec));
                grafts.add(g);
                seqs.add(engine.newSequence(spec.toString(), new int[] {context[context.length - 1]},
                        params(forced.length, answerTokens, ignoreEos), hookSpec(g)));
            }
            try {
                return decodeAll(seqs, forced, answerTokens, specs, grafts, context.length, true);
            } finally {
                seqs.forEach(engine::release);
            }
        }
    }

    /** The same case without the graft: a real prefill of {@code context} under {@code spec}, run alone. */
    public Result runDirect(int[] context, int[] forced, int answerTokens, boolean ignoreEos, KvCompressionSpec spec) {
        long[] bytes = new long[1];
        KvCompressor method = registry.create(spec);
        KvCompressor measured = new KvCompressor() {
            @Override
            public int observationWindow() {
                return method.observationWindow();
            }

            @Override
            public void afterPrefill(SequenceKvCache cache, PrefillObservation obs) {
                method.afterPrefill(cache, obs);
                bytes[0] = cache.bytes();
            }
        };
        Sequence s = engine.newSequence("direct", context, params(forced.length, answerTokens, ignoreEos),
                hookSpec(measured));
        try {
            List<Result> r = decodeAll(List.of(s), forced, answerTokens, List.of(spec), null, context.length, false);
            return new Result(spec, r.get(0).generated(), r.get(0).logProbs(), bytes[0], bytesUncompressed(context.length),
                    context.length);
        } finally {
            engine.release(s);
        }
    }

    private List<Result> decodeAll(List<Sequence> seqs, int[] forced, int answerTokens, List<KvCompressionSpec> specs,
            List<Graft> grafts, int contextTokens, boolean grafted) {
        int n = seqs.size();
        double[][] lp = new double[n][forced.length];
        int[] tok = new int[n];
        Arrays.fill(tok, forced[0]);
        double[] first = forcing.prefill(seqs, tok);
        for (int i = 0; i < n; i++) {
            // in a grafted run the first token's prediction came from the stand-in one-token prompt: not a result
            lp[i][0] = grafted ? Double.NaN : first[i];
        }
        for (int j = 1; j < forced.length; j++) {
            Arrays.fill(tok, forced[j]);
            double[] r = forcing.decode(seqs, tok);
            for (int i = 0; i < n; i++) {
                lp[i][j] = r[i];
            }
        }
        for (int a = 0; a < answerTokens; a++) {
            if (seqs.stream().allMatch(Sequence::isFinished)) {
                break;
            }
            engine.decode(seqs);
        }
        List<Result> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            Sequence s = seqs.get(i);
            if (s.finishReason() == io.kvpilot.engine.FinishReason.ERROR) {
                throw new IllegalStateException("sequence under " + specs.get(i) + " failed (see log)");
            }
            long bytes = grafts == null ? 0 : grafts.get(i).bytes;
            out.add(new Result(specs.get(i), s.generatedIds(), lp[i], bytes, bytesUncompressed(contextTokens), contextTokens));
        }
        return out;
    }

    @Override
    public void close() {
        keep.close();
        engine.close();
    }
}
