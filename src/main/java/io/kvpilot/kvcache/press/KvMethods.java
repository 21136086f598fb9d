package io.kvpilot.kvcache.press;

import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.kvcache.KvCompressor;
import io.kvpilot.kvcache.KvCompressors;
import io.kvpilot.kvcache.lowrank.LowRankKeysFormat;
import io.kvpilot.kvcache.quant.KvFormat;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The methods KVPilot knows, by their snake_case API names. Spring-free; the serving layer can expose it as a bean
 * and users can {@link #register} their own. Every eviction method also exists head-wise as {@code adakv_<name>}, and
 * every method combines with every bit width of the spec (hybrids need no class of their own).
 */
public final class KvMethods implements KvCompressors {

    /** Builds a method for a validated spec; throws {@link IllegalArgumentException} for specs it cannot serve. */
    @FunctionalInterface
    public interface Factory {
        KvMethod create(KvCompressionSpec spec);
    }

    /** Trailing prompt queries whose attention SnapKV, TOVA and H2O read (kvpress defaults to 64; prompts here are short). */
    public static final int OBSERVATION_WINDOW = 32;

    /** ChunkKV's span length in entries (the paper's default is 10; prompts here tokenise short words into 1-2). */
    public static final int CHUNK = 8;

    /**
     * Decode steps between two boundings of an evicting method's cache: one pool block
     * ({@code KvBlockPool.BLOCK_TOKENS}), so a dense layer grows by at most one block before it shrinks back. kvpress's
     * {@code DecodingPress} defaults to 512 steps for a 2,048-token target (a quarter of it); KVPilot's prompts and
     * answers are a few hundred tokens, so the same share is a few dozen steps.
     */
    public static final int DEFAULT_DECODE_INTERVAL = 32;

    private final Map<String, Factory> factories = new LinkedHashMap<>();
    private final int decodeInterval;

    private KvMethods(int decodeInterval) {
        if (decodeInterval < 0) {
            throw new IllegalArgumentException("decodeInterval must be >= 0, got " + decodeInterval);
        }
        this.decodeInterval = decodeInterval;
    }

    /** The built-in methods, bounding evicting caches every {@link #DEFAULT_DECODE_INTERVAL} decode steps. */
    public static KvMethods defaults() {
        return defaults(DEFAULT_DECODE_INTERVAL);
    }

    /**
     * The built-in methods (docs/api.md lists them) plus AdaKV variants and low-rank keys.
     *
     * @param decodeInterval decode steps between boundings of an evicting method's cache; 0 compresses after prefill
     *     only (the evaluation protocol: compress the context once, then score the continuation)
     */
    public static KvMethods defaults(int decodeInterval) {
        KvMethods m = new KvMethods(decodeInterval);
        m.register("none", spec -> new KvMethod(spec, null, KvFormat.forBits(spec.bits()), 0));
        Map<String, Scorer> scorers = new LinkedHashMap<>();
        scorers.put("streaming_llm", new StreamingLlmScorer(4));
        scorers.put("h2o", new H2oScorer());
        scorers.put("snapkv", new SnapKvScorer(5));
        scorers.put("tova", new TovaScorer());
        scorers.put("knorm", new KnormScorer());
        scorers.put("keydiff", new KeyDiffScorer());
        scorers.forEach((name, scorer) -> m.register(name, eviction(scorer, BudgetSchedule.UNIFORM, HeadAllocation.UNIFORM)));
        m.register("pyramidkv", eviction(new SnapKvScorer(5), new PyramidBudget(20, OBSERVATION_WINDOW), HeadAllocation.UNIFORM));
        scorers.forEach((name, scorer) ->
                m.register("adakv_" + name, eviction(scorer, BudgetSchedule.UNIFORM, new AdaKvHeads(0.2))));
        scorers.forEach((name, scorer) -> m.register("chunkkv_" + name,
                eviction(new ChunkScorer(scorer, CHUNK), BudgetSchedule.UNIFORM, HeadAllocation.UNIFORM)));
        m.register("lowrank_keys", spec -> {
            if (spec.bits() != 16) {
                throw new IllegalArgumentException("lowrank_keys stores fp32 values; bits must be 16, got " + spec.bits());
            }
            KvFormat keys = spec.ratio() == 0.0 ? KvFormat.DENSE : new LowRankKeysFormat(1.0 - spec.ratio());
            return new KvMethod(spec, null, keys, 0); // ratio = share of key dimensions dropped
        });
        return m;
    }

    /** An eviction method: the scorer plus the shared selection, with the spec's bits as its storage format. */
    public static Factory eviction(Scorer scorer, BudgetSchedule budgets, HeadAllocation heads) {
        return spec -> new KvMethod(spec, new Press(scorer, budgets, heads, spec.ratio()),
                KvFormat.forBits(spec.bits()), scorer.needsWindowAttention() ? OBSERVATION_WINDOW : 0);
    }

    /** Adds a method; names are unique. */
    public synchronized KvMethods register(String name, Factory factory) {
        new KvCompressionSpec(name, 0.0, 16); // validates the snake_case name
        if (factories.putIfAbsent(name, factory) != null) {
            throw new IllegalArgumentException("method '" + name + "' is already registered");
        }
        return this;
    }

    public synchronized KvMethod create(KvCompressionSpec spec) {
        Factory f = factories.get(spec.method());
        if (f == null) {
            throw new IllegalArgumentException("unknown kv_compression method '" + spec.method() + "'; known: " + names());
        }
        return f.create(spec).withDecodeInterval(decodeInterval);
    }

    public int decodeInterval() {
        return decodeInterval;
    }

    @Override
    public KvCompressor forSpec(KvCompressionSpec spec) {
        return create(spec);
    }

    public synchronized Set<String> names() {
        return Collections.unmodifiableSet(new java.util.LinkedHashSet<>(factories.keySet()));
    }
}
