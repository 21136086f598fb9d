package io.kvpilot.engine.batch;

import io.kvpilot.engine.Sequence;

/**
 * Picks the token a sequence appends from its logits row, in place of sampling: how the evaluation harness feeds a
 * known text (teacher forcing) through the same steps serving runs. Called on the engine thread, once for each
 * sequence that generates a token in the call; finishing (EOS unless ignored, stop strings, {@code max_tokens}, the
 * context's end) applies to the chosen token as to a sampled one.
 */
@FunctionalInterface
public interface TokenChooser {

    /** The token to append; {@code logits[offset, offset + vocab)} is the row it is chosen from (read only). */
    int choose(Sequence sequence, float[] logits, int offset, int vocab);
}
