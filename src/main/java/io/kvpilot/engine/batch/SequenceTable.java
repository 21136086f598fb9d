package io.kvpilot.engine.batch;

import ai.djl.ndarray.NDManager;
import io.kvpilot.engine.FinishReason;
import io.kvpilot.engine.Sequence;
import io.kvpilot.engine.TextCodec;
import io.kvpilot.kvcache.KvBlockPool;
import io.kvpilot.kvcache.KvCompressors;
import io.kvpilot.kvcache.KvCompressor;
import io.kvpilot.kvcache.KvLayout;
import io.kvpilot.kvcache.SequenceKvCache;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * The sequences the engine holds state for, and their KV caches' lifetime: a cache is opened when its sequence first
 * runs and freed the moment the sequence ends (its final byte counts recorded first), whether it finished, was
 * cancelled or failed; {@link #release} frees whatever is left and forgets the sequence, idempotently. Engine thread
 * only.
 */
final class SequenceTable {

    private static final System.Logger LOG = System.getLogger(LlamaEngine.class.getName());

    private final Map<Sequence, SequenceState> states = new IdentityHashMap<>();
    private final KvCompressors compressors;
    private final TextCodec codec; // null without a tokenizer: no stop strings, no text
    private final KvBlockPool pool;
    private final NDManager root;
    private final KvLayout layout;

    SequenceTable(KvCompressors compressors, TextCodec codec, KvBlockPool pool, NDManager root, KvLayout layout) {
        this.compressors = compressors;
        this.codec = codec;
        this.pool = pool;
        this.root = root;
        this.layout = layout;
    }

    /** The sequence's state, or null if it has not started or was released. */
    SequenceState get(Sequence seq) {
        return states.get(seq);
    }

    int size() {
        return states.size();
    }

    /**
     * Gives each sequence of {@code sequences} that has not started its state and an empty cache; returns those that
     * are ready to prefill (a cancelled one finishes, one whose cache cannot be allocated fails).
     */
    List<Sequence> open(List<Sequence> sequences) {
        List<Sequence> todo = new ArrayList<>();
        for (Sequence seq : sequences) {
            if (seq.isFinished() || states.containsKey(seq)) {
                continue;
            }
            if (seq.isCancelRequested()) {
                seq.finish(FinishReason.CANCELLED);
                continue;
            }
            Long seed = seq.sampling().seed();
            KvCompressor compressor = compressors.forSpec(seq.compression());
            SequenceState state = new SequenceState(seed == null ? new Random() : new Random(seed), compressor,
                    seq.compression(), codec == null ? null : new TextStream(codec, seq.sampling().stop()));
            states.put(seq, state);
            try {
                state.cache = new SequenceKvCache(pool.account(), root, layout, seq.promptLength() + 1);
                todo.add(seq);
            } catch (RuntimeException e) {
                fail(seq, e);
            }
        }
        return todo;
    }

    /** Ends the sequence with {@code ERROR} and frees its cache; the step goes on for the others. */
    void fail(Sequence seq, RuntimeException e) {
        LOG.log(System.Logger.Level.ERROR, "sequence " + seq.id() + " failed: " + e, e);
        seq.finish(FinishReason.ERROR);
        SequenceState state = states.get(seq);
        if (state != null) {
            free(seq, state);
        }
    }

    /** Frees an ended sequence's cache now, after recording what it held; the state stays until {@link #release}. */
    void free(Sequence seq, SequenceState state) {
        if (state.cache != null) {
            seq.recordKvBytes(state.cache.bytes(), state.cache.bytesUncompressed());
            seq.recordKvPeak(state.cache.pool().peakBytesInUse(), state.cache.pool().peakBytesSinceMark());
            seq.recordKvEntries(meanLayerLength(state.cache), state.cache.positions());
            state.cache.close();
            state.cache = null;
        }
    }

    /** Frees whatever the sequence still holds and forgets it (idempotent). */
    void release(Sequence sequence) {
        SequenceState state = states.remove(sequence);
        if (state != null && state.cache != null) {
            sequence.recordKvPeak(state.cache.pool().peakBytesInUse(), state.cache.pool().peakBytesSinceMark());
            state.cache.close();
            state.cache = null;
        }
    }

    /** Frees every cache and forgets every sequence (the engine closes). */
    void closeAll() {
        for (SequenceState s : states.values()) {
            if (s.cache != null) {
                s.cache.close();
            }
        }
        states.clear();
    }

    private static long meanLayerLength(SequenceKvCache cache) {
        long slots = 0;
        for (int l = 0; l < cache.layerCount(); l++) {
            slots += cache.layer(l).length();
        }
        return cache.layerCount() == 0 ? 0 : Math.round((double) slots / cache.layerCount());
    }
}
