package io.kvpilot.eval;

import io.kvpilot.engine.Sequence;
import io.kvpilot.engine.batch.LlamaEngine;
import io.kvpilot.engine.batch.TokenChooser;
import java.util.Arrays;
import java.util.List;

/**
 * Teacher forcing for the evaluation: each sequence appends a given token instead of a sampled one, through the same
 * prefill and decode steps serving runs (the cache compressed by each sequence's spec), and the harness gets the
 * log-probability the model gave that token. Engine thread only, as the engine.
 */
final class TeacherForcing {

    private final LlamaEngine engine;

    TeacherForcing(LlamaEngine engine) {
        this.engine = engine;
    }

    /**
     * Prefills {@code sequences}; sequence {@code i} appends {@code tokens[i]}. Returns {@code log p(tokens[i])} under
     * the logits of its prompt's last position (NaN for a sequence that was skipped or failed).
     */
    double[] prefill(List<Sequence> sequences, int[] tokens) {
        double[] logProbs = slots(sequences, tokens);
        engine.prefill(sequences, chooser(sequences, tokens, logProbs));
        return logProbs;
    }

    /**
     * Decodes one step of {@code batch}; sequence {@code i} appends {@code tokens[i]}. Returns {@code log p(tokens[i])}
     * under the step's logits (NaN for a sequence that sat out). Finishing (EOS unless ignored, max_tokens, context
     * end) applies to the forced token.
     */
    double[] decode(List<Sequence> batch, int[] tokens) {
        double[] logProbs = slots(batch, tokens);
        engine.decode(batch, chooser(batch, tokens, logProbs));
        return logProbs;
    }

    private static TokenChooser chooser(List<Sequence> sequences, int[] tokens, double[] logProbs) {
        return (seq, logits, offset, vocab) -> {
            int slot = sequences.indexOf(seq);
            logProbs[slot] = logSoftmaxAt(logits, offset, vocab, tokens[slot]);
            return tokens[slot];
        };
    }

    private double[] slots(List<Sequence> sequences, int[] tokens) {
        if (tokens.length != sequences.size()) {
            throw new IllegalArgumentException(tokens.length + " forced tokens for " + sequences.size() + " sequences");
        }
        int vocab = engine.modelInfo().vocabSize();
        for (int t : tokens) {
            if (t < 0 || t >= vocab) {
                throw new IllegalArgumentException("token id " + t + " outside the vocabulary [0, " + vocab + ")");
            }
        }
        double[] logProbs = new double[tokens.length];
        Arrays.fill(logProbs, Double.NaN);
        return logProbs;
    }

    static double logSoftmaxAt(float[] logits, int offset, int vocab, int token) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) {
            max = Math.max(max, logits[offset + i]);
        }
        double sum = 0;
        for (int i = 0; i < vocab; i++) {
            sum += Math.exp(logits[offset + i] - max);
        }
        return logits[offset + token] - max - Math.log(sum);
    }
}
