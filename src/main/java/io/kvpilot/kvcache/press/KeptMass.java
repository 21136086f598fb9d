package io.kvpilot.kvcache.press;

import ai.djl.ndarray.NDManager;
import io.kvpilot.kvcache.PrefillObservation;
import io.kvpilot.kvcache.SequenceKvCache;

/**
 * How much of an eviction method's own score mass the entries it would keep carry, at several ratios, for a prefilled
 * cache — a cheap per-prompt signal of what the method would lose (a prompt whose scores are concentrated keeps most
 * of its mass even at a high ratio). Reads the cache, changes nothing.
 *
 * <p>Scores are not probabilities for every scorer (KNorm's are minus key norms, KeyDiff's minus cosines), so per
 * layer and KV head the mass of an entry is its score minus the lowest finite score of that head: the least valued
 * entry weighs 0, and the measure does not depend on the scorer's offset or scale. Entries scored {@code +Infinity}
 * (sinks, observation window) are kept at every ratio and left out of the mass. The fraction is averaged over layers
 * and heads; a layer whose budget covers its cache counts 1.
 */
public final class KeptMass {

    private KeptMass() {}

    /**
     * @param method an eviction method (for a method that evicts nothing every fraction is 1)
     * @param cache the prefilled, not yet compressed cache
     * @param observation the prefill's observation (window attention for the scorers that need it)
     * @param ratios ratios in [0, 1)
     * @return kept-mass fraction per ratio, each in [0, 1]
     */
    public static double[] of(KvMethod method, SequenceKvCache cache, PrefillObservation observation,
            double[] ratios) {
        double[] out = new double[ratios.length];
        Press base = method.press();
        if (base == null) {
            java.util.Arrays.fill(out, 1.0);
            return out;
        }
        int layers = cache.layerCount();
        for (int l = 0; l < layers; l++) {
            try (NDManager scope = cache.manager().newSubManager()) {
                LayerView view = method.view(cache, l, observation, scope);
                for (int r = 0; r < ratios.length; r++) {
                    out[r] += layerFraction(new Press(base.scorer(), base.budgets(), base.heads(), ratios[r]), view);
                }
            }
        }
        for (int r = 0; r < ratios.length; r++) {
            out[r] /= layers;
        }
        return out;
    }

    /** Mean over the layer's KV heads of the kept share of the head's finite, min-shifted score mass. */
    static double layerFraction(Press press, LayerView view) {
        int t = view.tokens();
        int keep = press.budgets().keep(view.layer(), view.numLayers(), t, press.ratio());
        if (keep >= t) {
            return 1.0;
        }
        float[][] scores = press.scores(view, keep);
        int[][] kept = press.heads().select(scores, keep);
        double sum = 0;
        for (int h = 0; h < scores.length; h++) {
            sum += headFraction(scores[h], kept[h]);
        }
        return sum / scores.length;
    }

    static double headFraction(float[] scores, int[] kept) {
        double min = Double.POSITIVE_INFINITY;
        for (float s : scores) {
            if (s != Float.POSITIVE_INFINITY && s < min) {
                min = s;
            }
        }
        if (min == Double.POSITIVE_INFINITY) {
            return 1.0; // every entry is kept whatever the ratio
        }
        double total = 0;
        for (float s : scores) {
            if (s != Float.POSITIVE_INFINITY) {
                total += s - min;
            }
        }
        if (!(total > 0)) {
            return 1.0; // all finite scores equal: nothing tells the kept ones apart
        }
        double keptMass = 0;
        for (int i : kept) {
            if (scores[i] != Float.POSITIVE_INFINITY) {
                keptMass += scores[i] - min;
            }
        }
        return Math.min(1.0, keptMass / total);
    }
}
