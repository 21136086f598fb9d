package io.kvpilot.kvcache.quant;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.kvpilot.kvcache.KvBlockPool;
import io.kvpilot.kvcache.KvLayerStore;
import io.kvpilot.kvcache.SequenceKvCache;

/**
 * How kept entries are stored: the {@code bits} of a spec, or another form (low-rank keys). It wraps any eviction
 * scorer — eviction decides which entries stay, the format how each is held — so hybrids need no class of their own.
 */
public interface KvFormat {

    /**
     * A store holding {@code keys}/{@code values} {@code [K, n, D]} fp32 (left to the caller) in this format, its
     * tensors in {@code manager} and counted in {@code pool}; {@code mask} is the ragged padding mask or null.
     */
    KvLayerStore build(KvBlockPool pool, NDManager manager, NDArray keys, NDArray values, NDArray mask);

    /** Throws {@link IllegalArgumentException} if this format cannot hold heads of {@code headDim} channels. */
    default void checkHeadDim(int headDim) {}

    /** Whether the engine's dense fp32 store is kept as is (no conversion). */
    default boolean isDense() {
        return false;
    }

    /** Replaces layer {@code layer} of {@code cache} by this format's store of the same entries (dense: no-op). */
    default void convert(SequenceKvCache cache, int layer, KvBlockPool pool) {
        if (isDense()) {
            return;
        }
        KvLayerStore old = cache.layer(layer);
        try (NDManager scope = cache.manager().newSubManager()) {
            KvLayerStore store = build(pool, cache.manager(), old.keys(scope), old.values(scope),
                    old.attentionMask(scope));
            cache.replaceLayer(layer, store);
        }
    }

    /** fp32 as the model computes it: the engine's own store. */
    KvFormat DENSE = new KvFormat() {
        @Override
        public KvLayerStore build(KvBlockPool pool, NDManager manager, NDArray k, NDArray v, NDArray mask) {
            throw new UnsupportedOperationException("the dense format keeps the engine's store");
        }

        @Override
        public boolean isDense() {
            return true;
        }
    };

    /** Symmetric int8 per token ({@link Int8KvStore}). */
    KvFormat INT8 = Int8KvStore::new;

    /** The format for a spec's bit width: 16 dense, 8 int8 per token, 4 and 2 KIVI (group 32, residual 32). */
    static KvFormat forBits(int bits) {
        return switch (bits) {
            case 16 -> DENSE;
            case 8 -> INT8;
            case 4, 2 -> new KiviFormat(bits, 32, 32);
            default -> throw new IllegalArgumentException("bits must be 16, 8, 4 or 2, got " + bits);
        };
    }
}
