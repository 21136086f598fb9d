package io.kvpilot.engine.batch;

import io.kvpilot.engine.SamplingParams;
import java.util.Arrays;
import java.util.Random;

/**
 * Picks the next token from one row of logits, in Java (libtorch's multinomial is not reachable from DJL): greedy, or
 * temperature → top-k → top-p (the order Hugging Face applies them) and a draw from the sequence's own seeded
 * {@link Random}, so the same seed gives the same tokens. A row with a NaN, or whose best logit is infinite, is the
 * model's fault, not the request's: it throws {@link IllegalStateException}, which fails the engine step.
 */
public final class Sampler {

    /** Tokens whose logit is this far (after temperature) below the best have probability < e^-30 of it: ignored. */
    private static final double NEGLIGIBLE = 30.0;

    private Sampler() {}

    public static int argmax(float[] logits, int offset, int vocab) {
        int best = 0;
        float bestValue = Float.NEGATIVE_INFINITY;
        boolean nan = false;
        for (int i = 0; i < vocab; i++) {
            float v = logits[offset + i];
            if (v > bestValue) {
                bestValue = v;
                best = i;
            } else if (v != v) {
                nan = true;
            }
        }
        if (nan || !Float.isFinite(bestValue)) {
            throw new IllegalStateException("The model produced non-finite logits (" + (nan ? "NaN" : bestValue)
                    + "); no token can be sampled");
        }
        return best;
    }

    /** {@code p.temperature()} must be 0 or have a finite reciprocal (request validation ensures both). */
    public static int sample(float[] logits, int offset, int vocab, SamplingParams p, Random rng) {
        if (p.isGreedy()) {
            return argmax(logits, offset, vocab);
        }
        double invT = 1.0 / p.temperature();
        float max = logits[offset + argmax(logits, offset, vocab)];
        // candidates sorted by logit, descending; ties by id. key = sortable(-logit) << 32 | id
        long[] keys = new long[vocab];
        int c = 0;
        for (int i = 0; i < vocab; i++) {
            float v = logits[offset + i];
            if ((max - v) * invT <= NEGLIGIBLE) {
                int bits = Float.floatToIntBits(-v);
                keys[c++] = ((long) (bits ^ ((bits >> 31) & 0x7fffffff)) << 32) | i;
            }
        }
        Arrays.sort(keys, 0, c);
        int k = p.topK() > 0 ? Math.min(p.topK(), c) : c;
        double[] w = new double[k];
        double sum = 0;
        for (int j = 0; j < k; j++) {
            w[j] = Math.exp((logits[offset + (int) keys[j]] - max) * invT);
            sum += w[j];
        }
        int m = k;
        if (p.topP() < 1.0) { // smallest prefix whose mass reaches top_p
            double cum = 0;
            for (int j = 0; j < k; j++) {
                cum += w[j];
                if (cum >= p.topP() * sum) {
                    m = j + 1;
                    break;
                }
            }
            sum = 0;
            for (int j = 0; j < m; j++) {
                sum += w[j];
            }
        }
        double r = rng.nextDouble() * sum;
        for (int j = 0; j < m; j++) {
            r -= w[j];
            if (r < 0) {
                return (int) keys[j];
            }
        }
        return (int) keys[m - 1];
    }
}
