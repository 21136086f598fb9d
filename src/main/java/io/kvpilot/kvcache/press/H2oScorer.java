package io.kvpilot.kvcache.press;

import ai.djl.ndarray.NDArray;

/**
 * H2O: keep the heavy hitters, the entries that received the most attention from the prompt's queries — every
 * query's attention summed, divided by the number of queries that could see the entry (entry {@code i} of {@code T}
 * is seen by {@code T - i}), averaged over the query heads of each KV head.
 *
 * <p>Zhang et al., "H2O: Heavy-Hitter Oracle for Efficient Generative Inference of Large Language Models",
 * NeurIPS 2023, arXiv:2306.14048; scored as kvpress's {@code ObservedAttentionPress}. An earlier KVPilot version
 * scored only the last 32 queries and reserved half the budget for recent entries, which kept 25–30 points less
 * passkey accuracy than the reference at ratio 0.5. The sums come from the engine's prefill (its libtorch path).
 */
public record H2oScorer() implements Scorer {

    @Override
    public NDArray score(LayerView view, int keep) {
        NDArray sums = view.accumulatedAttention();
        if (sums == null) {
            throw new IllegalStateException("h2o needs the prompt's attention sums, none were given");
        }
        int t = view.tokens();
        NDArray seenBy = sums.getManager().arange((float) t, 0f, -1f); // [T]: T - i
        return sums.div(seenBy); // [kvH, T]
    }

    @Override
    public boolean usesAccumulatedAttention() {
        return true;
    }
}
