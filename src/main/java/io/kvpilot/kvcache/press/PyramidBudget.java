package io.kvpilot.kvcache.press;

/**
 * PyramidKV's layer budgets: an arithmetic sequence that shrinks with depth and keeps the same total as the uniform
 * schedule; lower layers attend broadly, upper layers focus on few tokens.
 *
 * <p>Cai et al., "PyramidKV: Dynamic KV Cache Compression based on Pyramidal Information Funneling",
 * arXiv:2406.02069, with the budget formula of its reference code as kvpress's {@code PyramidKVPress} applies it:
 * the pyramid spans {@code [min, max]} with {@code max + min = 2 T (1 - ratio)} and {@code min = max / beta}-ish,
 * every layer's budget stays within {@code [window, T - window]}, and when no such pyramid exists (short prompts,
 * high ratios) every layer keeps the uniform {@code T (1 - ratio)}. Rounding is half-to-even, as Python's
 * {@code round}.
 *
 * @param beta how steep the pyramid is ({@code >= 1}; the paper uses 20)
 * @param window the observation window, which every layer keeps on top of its pyramid share
 */
public record PyramidBudget(double beta, int window) implements BudgetSchedule {

    public PyramidBudget {
        if (!(beta >= 1.0)) {
            throw new IllegalArgumentException("beta must be >= 1, got " + beta);
        }
        if (window < 0) {
            throw new IllegalArgumentException("window must be >= 0, got " + window);
        }
    }

    @Override
    public int keep(int layer, int numLayers, int tokens, double ratio) {
        if (ratio == 0.0) {
            return tokens;
        }
        double maxCapacity = window + tokens * (1.0 - ratio);
        double min = (maxCapacity - window) / beta;
        double max = (maxCapacity - window) * 2 - min;
        if (max >= tokens - window) {
            max = tokens - window;
            min = (maxCapacity - window) * 2 - max;
        }
        int budget;
        if (!(tokens >= max && max >= min && min >= window) || numLayers == 1) {
            budget = (int) Math.rint(tokens * (1.0 - ratio)); // the uniform fallback (SnapKV)
        } else {
            double step = (max - min) / (numLayers - 1);
            budget = (int) Math.rint(max - layer * step);
        }
        return Math.max(1, Math.min(tokens, budget));
    }

    /** Budgets of all layers. */
    public int[] schedule(int numLayers, int tokens, double ratio) {
        int[] out = new int[numLayers];
        for (int l = 0; l < numLayers; l++) {
            out[l] = keep(l, numLayers, tokens, ratio);
        }
        return out;
    }
}
