package io.kvpilot.engine.batch;

import io.kvpilot.engine.FinishReason;
import io.kvpilot.engine.SamplingParams;
import io.kvpilot.engine.Sequence;
import java.util.Set;

/**
 * Sampling and stopping: appends each sequence's next token (sampled from its logits row, or picked by a
 * {@link TokenChooser}) and decides whether the sequence ends — EOS unless ignored, a stop string, {@code max_tokens}
 * or the context's end — freeing its cache the moment it does. Engine thread only.
 */
final class TokenAcceptor {

    private final int vocab;
    private final int contextLength;
    private final Set<Integer> eos;
    private final SequenceTable table;

    TokenAcceptor(int vocab, int contextLength, Set<Integer> eos, SequenceTable table) {
        this.vocab = vocab;
        this.contextLength = contextLength;
        this.eos = eos;
        this.table = table;
    }

    /** Appends the token chosen from {@code logits[offset..]} ({@code chooser} null: sampled) and finishes if due. */
    void accept(Sequence seq, SequenceState state, float[] logits, int offset, TokenChooser chooser) {
        SamplingParams p = seq.sampling();
        int token = chooser == null ? Sampler.sample(logits, offset, vocab, p, state.random)
                : chooser.choose(seq, logits, offset, vocab);
        seq.appendToken(token);
        seq.recordKvBytes(state.cache.bytes(), state.cache.bytesUncompressed());
        boolean isEos = !p.ignoreEos() && eos.contains(token);
        boolean stopped = false;
        if (!isEos && state.text != null) {
            stopped = state.text.push(seq.generatedIds(), seq.generatedCount(), seq);
        }
        FinishReason reason = null;
        if (isEos || stopped) {
            reason = FinishReason.STOP;
        } else if (seq.generatedCount() >= p.maxTokens() || seq.length() >= contextLength) {
            reason = FinishReason.LENGTH;
        }
        if (reason != null) {
            if (!stopped && state.text != null) {
                int[] ids = seq.generatedIds();
                state.text.flush(ids, isEos ? ids.length - 1 : ids.length, seq);
            }
            seq.finish(reason);
            table.free(seq, state);
        }
    }
}
