package io.kvpilot.kvcache.press;

/**
 * PyramidKV's layer budgets: an arithmetic sequence that shrinks with depth and keeps the same total as the uniform
 * schedule; lower layers attend broadly, upper layers focus on few tokens.
 *
 * <p>Cai et al., "PyramidKV: Dynamic KV Cache Compression based on Pyramidal Information Funneling",
 * arXiv:2406.02069. The top layer gets {@code mean / beta}; the bottom layer {@code 2 mean - mean / beta}; budgets
 * that would exceed the tokens cached are capped and their excess goes to the next layers down the pyramid.
 *
 * @param beta how steep the pyramid is ({@code > 1}; the paper uses 20)
 */
public record PyramidBudget(double beta) implements BudgetSchedule {

    public PyramidBudget {
        if (!(beta >= 1.0)) {
            throw new IllegalArgumentException("beta must be >= 1, got " + beta);
        }
    }

    @Override
    public int keep(int layer, int numLayers, int tokens, double ratio) {
        return schedule(numLayers, tokens, ratio)[layer];
    }

    /** Budgets of all layers (their sum is {@code numLayers} times the uniform budget, up to rounding). */
    public int[] schedule(int numLayers, int tokens, double ratio) {
        int mean = BudgetSchedule.uniformKeep(tokens, ratio);
        int[] out = new int[numLayers];
        if (ratio == 0.0 || numLayers == 1) {
            java.util.Arrays.fill(out, mean);
            return out;
        }
        double min = mean / beta;
        double max = 2.0 * mean - min;
        long excess = 0;
        for (int l = 0; l < numLayers; l++) {
            double b = max - (max - min) * l / (numLayers - 1);
            out[l] = (int) Math.max(1, Math.round(b));
            if (out[l] > tokens) {
                excess += out[l] - tokens;
                out[l] = tokens;
            }
        }
        for (int l = 0; l < numLayers && excess > 0; l++) { // hand the capped excess down the pyramid
            int add = (int) Math.min(excess, tokens - out[l]);
            out[l] += add;
            excess -= add;
        }
        return out;
    }
}
