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

    private final Map<String, Factory> factories = new LinkedHashMap<>();

    /** The built-in methods of docs/architecture.md §2 plus AdaKV and ChunkKV variants and low-rank keys. */
    public static KvMethods defaults() {
        KvMethods m = new KvMethods();
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
        return f.create(spec);
    }

    @Override
    public KvCompressor forSpec(KvCompressionSpec spec) {
        return create(spec);
    }

    public synchronized Set<String> names() {
        return Collections.unmodifiableSet(new java.util.LinkedHashSet<>(factories.keySet()));
    }
}
