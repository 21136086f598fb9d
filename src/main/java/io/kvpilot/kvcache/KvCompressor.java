package io.kvpilot.kvcache;

/**
 * The compression hook (issue 4 implements the methods; this is the seam). The engine calls it for one sequence's
 * cache:
 *
 * <ol>
 *   <li>{@link #afterPrefill} once, right after the prompt's K/V are in the cache, with a {@link PrefillObservation}
 *       holding the attention weights of the last {@link #observationWindow()} prompt queries (SnapKV-style);
 *   <li>{@link #duringDecode} after every {@link #decodeInterval()} decode steps (0: never), for methods that keep
 *       the cache within a budget while generating (StreamingLLM, H2O, TOVA).
 * </ol>
 *
 * <p>A method only <em>scores</em> entries; one shared mechanism selects the top-k per layer/head and compacts each
 * {@link KvLayerStore} with {@link KvLayerStore#retain} (real memory freed), or swaps in a quantized store with
 * {@link SequenceKvCache#replaceLayer}. Kept keys carry their original RoPE rotation (they are cached post-RoPE) and
 * the next token's position is {@link SequenceKvCache#positions()}, so eviction never shifts positions.
 *
 * <p>Implementations are immutable; per-sequence state (e.g. H2O's accumulated attention) lives in the
 * {@link SequenceKvCache}'s owner, not here. Called on the engine thread only.
 */
public interface KvCompressor {

    /** Trailing prompt queries whose attention weights {@link #afterPrefill} wants; 0 for none (cheaper). */
    default int observationWindow() {
        return 0;
    }

    /**
     * Whether {@link #afterPrefill} wants {@link PrefillObservation#attentionSums} (every prompt query's attention,
     * summed): the prompt then prefills on the engine's libtorch path, which keeps the attention matrix.
     */
    default boolean wantsAttentionSums() {
        return false;
    }

    /**
     * Refuses, with {@link IllegalArgumentException}, a model whose head dimension this compressor cannot store (KIVI's
     * channel groups must divide it): checked at admission, so that such a request is a 400 and not a failure at the
     * end of its prefill.
     */
    default void checkHeadDim(int headDim) {}

    /** Compresses the freshly prefilled cache. Tensors in {@code observation} are freed after the call. */
    void afterPrefill(SequenceKvCache cache, PrefillObservation observation);

    /**
     * {@link #afterPrefill(SequenceKvCache, PrefillObservation)}, recording into {@code kept} which prompt positions
     * each layer and head kept (for inspection). Compressors that evict override it; the default evicts nothing, so
     * leaving {@code kept} as it is (every position kept) is the truth for it.
     */
    default void afterPrefill(SequenceKvCache cache, PrefillObservation observation, KeptPositions kept) {
        afterPrefill(cache, observation);
    }

    /** Decode steps between calls of {@link #duringDecode}; 0 means never. */
    default int decodeInterval() {
        return 0;
    }

    /** Keeps the cache within the method's budget during generation. */
    default void duringDecode(SequenceKvCache cache) {}
}
