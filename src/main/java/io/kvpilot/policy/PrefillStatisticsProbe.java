package io.kvpilot.policy;

import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.kvcache.PrefillObservation;
import io.kvpilot.kvcache.SequenceKvCache;
import io.kvpilot.kvcache.press.KeptMass;
import io.kvpilot.kvcache.press.KvMethod;
import io.kvpilot.kvcache.press.KvMethods;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Computes a prompt's {@link PrefillStatistics} right after prefill, before any compression: for each eviction method
 * of interest, the kept score mass at each ratio ({@link KeptMass}). Methods whose scorer needs the observation
 * window's attention are skipped when the prefill captured none (the predictor then estimates them as at admission).
 * Immutable; one instance serves every sequence.
 */
public final class PrefillStatisticsProbe {

    private final List<KvMethod> methods;
    private final double[] ratios;

    /**
     * @param registry the method registry
     * @param methods eviction methods to measure ({@code none} and unknown names are ignored)
     * @param ratios ascending ratios in (0, 1), e.g. {@link LearnedQualityPredictor#keptMassRatios()}
     */
    public PrefillStatisticsProbe(KvMethods registry, List<String> methods, double[] ratios) {
        if (ratios.length == 0) {
            throw new IllegalArgumentException("at least one ratio");
        }
        for (int i = 0; i < ratios.length; i++) {
            if (!(ratios[i] > 0 && ratios[i] < 1) || (i > 0 && ratios[i] <= ratios[i - 1])) {
                throw new IllegalArgumentException("ratios must ascend within (0, 1)");
            }
        }
        this.ratios = ratios.clone();
        List<KvMethod> m = new ArrayList<>();
        for (String name : methods) {
            if (!name.equals("none") && registry.names().contains(name)) {
                KvMethod method = registry.create(new KvCompressionSpec(name, ratios[0], 16));
                if (method.press() != null) {
                    m.add(method);
                }
            }
        }
        this.methods = List.copyOf(m);
    }

    /** The largest observation window the measured methods read (what the prefill should capture). */
    public int observationWindow() {
        return methods.stream().mapToInt(KvMethod::observationWindow).max().orElse(0);
    }

    public PrefillStatistics compute(SequenceKvCache cache, PrefillObservation observation) {
        Map<String, double[]> kept = new LinkedHashMap<>();
        for (KvMethod m : methods) {
            if (m.observationWindow() > 0 && observation.attention() == null) {
                continue;
            }
            kept.put(m.name(), KeptMass.of(m, cache, observation, ratios));
        }
        return new PrefillStatistics(observation.promptLength(), ratios, kept);
    }
}
