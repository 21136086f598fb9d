package io.kvpilot.kvcache.press;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;

/**
 * H2O: keep the heavy hitters (entries with the largest accumulated attention) plus a recent window.
 *
 * <p>Zhang et al., "H2O: Heavy-Hitter Oracle for Efficient Generative Inference of Large Language Models",
 * NeurIPS 2023, arXiv:2306.14048. The accumulated attention comes from the sequence's state when tracked, otherwise
 * from the observation window's attention summed over its queries (what prefill can see).
 *
 * @param recentShare share of the budget reserved for the most recent entries (the paper splits 50/50)
 */
public record H2oScorer(double recentShare) implements Scorer {

    public H2oScorer {
        if (!(recentShare >= 0 && recentShare <= 1)) {
            throw new IllegalArgumentException("recentShare must be in [0, 1], got " + recentShare);
        }
    }

    @Override
    public NDArray score(LayerView view, int keep) {
        NDArray acc = view.accumulatedAttention() != null
                ? view.accumulatedAttention().duplicate()
                : view.requireWindowAttention("h2o").sum(new int[] {1});
        int recent = Math.min(view.tokens(), (int) Math.round(keep * recentShare));
        if (recent > 0) {
            acc.set(new NDIndex(":, -" + recent + ":"), Float.POSITIVE_INFINITY);
        }
        return acc;
    }

    @Override
    public boolean needsWindowAttention() {
        return true;
    }

    @Override
    public boolean usesAccumulatedAttention() {
        return true;
    }
}
