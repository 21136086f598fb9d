package io.kvpilot.engine.batch;

import io.kvpilot.engine.FinishReason;
import io.kvpilot.engine.Sequence;
import java.util.ArrayList;
import java.util.List;

/**
 * What one engine step runs: which sequences decode, how many prompt tokens each prefilling sequence feeds, how those
 * pieces pack into prefill passes, and whether prefill and decode fit one pass together. Reads the sequences' states;
 * runs nothing. Engine thread only.
 */
final class StepPlanner {

    /** Most tokens a step runs as one pass: the size the Java forward pass takes. */
    static final int ONE_PASS_TOKENS = 64;

    /** One prefill pass: the indices (into the pending list) of the sequences it feeds, and their piece lengths. */
    record PrefillPass(List<Integer> members, List<Integer> takes) {}

    private final SequenceTable table;
    private final int chunkTokens;
    private final int maxBatchSize;

    StepPlanner(SequenceTable table, int chunkTokens, int maxBatchSize) {
        this.table = table;
        this.chunkTokens = chunkTokens;
        this.maxBatchSize = maxBatchSize;
    }

    /**
     * How many prompt tokens each sequence of {@code pending} takes this step, in order, {@code budget} in all. A
     * prompt is left at least its compressor's observation window for its last piece, whose queries must all be in
     * the pass that completes it; that last piece is taken whole even where it overruns the budget, so that a window
     * larger than the budget cannot stall a prompt.
     */
    int[] quotas(List<Sequence> pending, int budget) {
        int[] quota = new int[pending.size()];
        int free = budget;
        for (int i = 0; i < pending.size() && free > 0; i++) {
            Sequence seq = pending.get(i);
            SequenceState state = table.get(seq);
            if (seq.isFinished() || state == null || state.cache == null) {
                continue;
            }
            int left = seq.promptLength() - state.prefilled;
            int window = state.compressor.observationWindow();
            quota[i] = left <= Math.max(window, free) ? left : Math.min(free, left - window);
            free -= quota[i];
        }
        return quota;
    }

    /**
     * The next prefill pass over {@code pending}, each of which still has {@code left[i]} tokens of its quota: pieces
     * of at most {@code prefillChunkTokens}, packed greedily in order, one piece per sequence; {@code left} is reduced
     * by what the pass takes. Null when nothing is left to feed.
     */
    PrefillPass nextPrefillPass(List<Sequence> pending, int[] left) {
        List<Integer> pass = new ArrayList<>();
        List<Integer> takes = new ArrayList<>();
        int tokens = 0;
        for (int i = 0; i < pending.size(); i++) {
            if (left[i] == 0 || pending.get(i).isFinished()) {
                continue;
            }
            int take = pieceLength(pending.get(i), Math.min(chunkTokens, left[i]));
            if (!pass.isEmpty() && tokens + take > chunkTokens) {
                break;
            }
            pass.add(i);
            takes.add(take);
            tokens += take;
        }
        if (pass.isEmpty()) {
            return null;
        }
        for (int s = 0; s < pass.size(); s++) {
            left[pass.get(s)] -= takes.get(s);
        }
        return new PrefillPass(pass, takes);
    }

    /**
     * Tokens of the next prefill piece: up to {@code limit}, but leaving the last piece at least as long as the
     * compressor's observation window (or {@code limit}), whose queries must all be in the final pass.
     */
    private int pieceLength(Sequence seq, int limit) {
        SequenceState state = table.get(seq);
        int left = seq.promptLength() - state.prefilled;
        int take = Math.min(left, limit);
        int window = Math.min(state.compressor.observationWindow(), limit);
        if (left > take && left - take < window) {
            take = left - window;
        }
        return take;
    }

    /**
     * Whether the prompt pieces of {@code fed} ({@code quota}) and one token of each of {@code decoding} run as one
     * pass: both are there, the decode batch fits one pass, every prompt's share is one prefill piece, and together
     * they are at most {@value #ONE_PASS_TOKENS} tokens.
     */
    boolean onePass(List<Sequence> fed, int[] quota, List<Sequence> decoding) {
        int tokens = decoding.size();
        boolean onePass = !fed.isEmpty() && !decoding.isEmpty() && decoding.size() <= maxBatchSize;
        for (int q : quota) {
            tokens += q;
            onePass &= q <= chunkTokens;
        }
        return onePass && tokens <= ONE_PASS_TOKENS;
    }

    /**
     * The sequences of {@code prefilling} whose prompts still have tokens to feed, in order: new ones get their state
     * and cache here; one cancelled or finished meanwhile is dropped, a cancelled one freeing its cache.
     */
    List<Sequence> feedable(List<Sequence> prefilling) {
        List<Sequence> fed = new ArrayList<>(prefilling.size());
        List<Sequence> fresh = new ArrayList<>();
        for (Sequence seq : prefilling) {
            SequenceState state = table.get(seq);
            if (state == null) {
                fresh.add(seq);
            } else if (seq.isCancelRequested() && !seq.isFinished()) {
                seq.finish(FinishReason.CANCELLED);
                table.free(seq, state);
            }
        }
        List<Sequence> started = table.open(fresh);
        for (Sequence seq : prefilling) {
            SequenceState state = table.get(seq);
            if (!seq.isFinished() && state != null && state.cache != null && state.prefilled < seq.promptLength()
                    && (started.contains(seq) || !fresh.contains(seq))) {
                fed.add(seq);
            }
        }
        return fed;
    }

    /** The sequences of {@code batch} that decode this step; a cancelled one finishes and frees its cache here. */
    List<Sequence> decodable(List<Sequence> batch) {
        List<Sequence> active = new ArrayList<>();
        for (Sequence seq : batch) {
            SequenceState state = table.get(seq);
            if (seq.isFinished() || state == null || state.cache == null || state.prefilled < seq.promptLength()) {
                continue; // a prompt not all in yet is fed by step's prefilling list
            }
            if (seq.isCancelRequested()) {
                seq.finish(FinishReason.CANCELLED);
                table.free(seq, state);
                continue;
            }
            active.add(seq);
        }
        return active;
    }
}
