package io.kvpilot.kvcache.press;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.kvpilot.kvcache.KeptPositions;
import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.kvcache.KvCompressor;
import io.kvpilot.kvcache.KvLayerStore;
import io.kvpilot.kvcache.PrefillObservation;
import io.kvpilot.kvcache.SequenceKvCache;
import io.kvpilot.kvcache.quant.KvFormat;
import io.kvpilot.kvcache.quant.Scoped;
import java.util.Objects;

/**
 * A compression method: which entries stay ({@code press}, or none) and how they are stored
 * ({@code format}: dense, int8, KIVI, low-rank keys). After prefill, per layer: score, select, compact the engine's
 * store ({@link KvLayerStore#retain}: the memory is freed), then convert it to the format. Immutable; one instance
 * serves every sequence with its spec, all per-sequence state is in the {@link SequenceKvCache}.
 *
 * @param spec what was asked for
 * @param press eviction, {@code null} when no entry is evicted
 * @param format storage of the kept entries
 * @param observationWindow trailing prompt queries whose attention the scorer reads (0 when none)
 * @param decodeInterval decode steps between two boundings of the cache to the press's budget (0: the cache is
 *     compressed after prefill only and then grows by every generated token)
 */
public record KvMethod(KvCompressionSpec spec, Press press, KvFormat format, int observationWindow, int decodeInterval)
        implements KvCompressor {

    public KvMethod {
        Objects.requireNonNull(spec, "spec");
        Objects.requireNonNull(format, "format");
        if (observationWindow < 0 || decodeInterval < 0) {
            throw new IllegalArgumentException("observationWindow and decodeInterval must be >= 0");
        }
    }

    @Override
    public void checkHeadDim(int headDim) {
        format.checkHeadDim(headDim);
    }

    /** A method compressed after prefill only. */
    public KvMethod(KvCompressionSpec spec, Press press, KvFormat format, int observationWindow) {
        this(spec, press, format, observationWindow, 0);
    }

    /** The same method bounding the cache every {@code steps} decode steps; eviction-free methods never do. */
    public KvMethod withDecodeInterval(int steps) {
        return new KvMethod(spec, press, format, observationWindow, press == null ? 0 : steps);
    }

    public String name() {
        return spec.method();
    }

    @Override
    public boolean wantsAttentionSums() {
        return press != null && press.ratio() > 0 && press.scorer().usesAccumulatedAttention(); // ratio 0 evicts nothing
    }

    /** Entries kept per head of {@code view}'s layer. */
    public KeepPlan plan(LayerView view) {
        return press == null ? KeepPlan.all(view.kvHeads(), view.tokens()) : press.plan(view);
    }

    @Override
    public void afterPrefill(SequenceKvCache cache, PrefillObservation observation) {
        afterPrefill(cache, observation, null);
    }

    /** As above; the cache holds exactly the prompt's positions in order here, so plan indices are positions. */
    @Override
    public void afterPrefill(SequenceKvCache cache, PrefillObservation observation, KeptPositions kept) {
        if (press == null && format.isDense()) {
            return; // identity: the cache stays bit-identical
        }
        for (int l = 0; l < cache.layerCount(); l++) {
            KvLayerStore store = cache.layer(l);
            if (press != null) {
                KeepPlan plan;
                try (NDManager scope = cache.manager().newSubManager()) {
                    plan = plan(view(cache, l, observation, scope));
                }
                if (!plan.keepsAll()) {
                    store.retain(plan.kept());
                    if (kept != null) {
                        kept.record(l, plan.kept());
                    }
                }
            }
            format.convert(cache, l, cache.pool());
        }
    }

    @Override
    public int decodeInterval() {
        return decodeInterval;
    }

    /**
     * Bounded decoding: each layer goes back to the press's budget over every position seen so far
     * ({@link Press#planDuringDecode}), so the cache holds {@code (1 - ratio)} of the sequence's tokens plus at most
     * {@code decodeInterval} generated since the last call — never the unbounded growth of a cache compressed once.
     * The store keeps its format: {@link KvLayerStore#retain} compacts quantized and low-rank stores in place.
     */
    @Override
    public void duringDecode(SequenceKvCache cache) {
        if (press == null) {
            return;
        }
        for (int l = 0; l < cache.layerCount(); l++) {
            KeepPlan plan;
            try (NDManager scope = cache.manager().newSubManager()) {
                plan = press.planDuringDecode(view(cache, l, null, scope), cache.positions());
            }
            if (!plan.keepsAll()) {
                cache.layer(l).retain(plan.kept());
            }
        }
    }

    /** The layer as scorers see it, every tensor owned by {@code scope}. */
    public LayerView view(SequenceKvCache cache, int layer, PrefillObservation observation, NDManager scope) {
        KvLayerStore store = cache.layer(layer);
        NDArray window = null;
        NDArray attn = observation == null ? null : observation.attention(layer);
        if (attn != null && press != null && press.scorer().needsWindowAttention()) {
            int kvHeads = cache.layout().kvHeads();
            window = Scoped.run(scope, s -> WindowAttention.reduceToKvHeads(attn, kvHeads), attn);
        }
        NDArray sums = observation == null ? null : observation.attentionSums(layer);
        NDArray accumulated = null;
        if (sums != null && press != null && press.scorer().usesAccumulatedAttention()) {
            int kvHeads = cache.layout().kvHeads();
            accumulated = Scoped.run(scope, s -> WindowAttention.sumsToKvHeads(sums, kvHeads), sums);
        }
        return new LayerView(layer, cache.layerCount(), store.keys(scope), store.values(scope), window, accumulated);
    }
}
