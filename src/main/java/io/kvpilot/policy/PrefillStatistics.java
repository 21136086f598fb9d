package io.kvpilot.policy;

import java.util.Map;

/**
 * Cheap statistics of a prompt's prefill that tell how much a compression would lose: for each eviction method the
 * fraction of its score mass that the entries it keeps carry at each ratio of {@link #ratios} (averaged over layers
 * and KV heads). A prompt whose mass is concentrated keeps most of it even at a high ratio.
 *
 * @param promptTokens tokens prefilled
 * @param ratios the ratios the masses are given at, ascending
 * @param keptMass method name to kept-mass fractions, one per ratio, each in [0, 1]
 */
public record PrefillStatistics(int promptTokens, double[] ratios, Map<String, double[]> keptMass) {

    public PrefillStatistics {
        ratios = ratios.clone();
        keptMass = Map.copyOf(keptMass);
    }
}
