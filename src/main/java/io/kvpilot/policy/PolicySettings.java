package io.kvpilot.policy;

import io.kvpilot.kvcache.KvCompressionSpec;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BiConsumer;
import java.util.function.Consumer;

/**
 * The controller's settings, resolved from configuration ({@code kvpilot.policy.*}); plain values, no Spring.
 *
 * @param candidates the settings it chooses among; {@link KvCompressionSpec#NONE} is always one of them
 * @param defaultMinQuality the quality floor of requests that give none
 * @param enterPressure reserved-over-budget at which it starts compressing new requests although the uncompressed
 *     setting would fit
 * @param exitPressure reserved-over-budget below which (with no request waiting) it stops again; below
 *     {@code enterPressure}, so decisions do not flap around one threshold
 * @param objectives latency objectives per SLO class
 * @param defaultSloClass the class of requests that name none
 * @param reclaimMethods methods a running cache may be recompressed with (query-agnostic ones: a live cache has no
 *     prompt-window attention left to score with)
 * @param fallback what the static fallback applies under pressure (no predictor)
 * @param decisionsKept decisions the admin endpoint can list
 * @param thresholdSpec the threshold rule's setting, or null for the learned choice
 * @param thresholdUsage reserved over budget at which the threshold rule compresses
 */
public record PolicySettings(
        List<KvCompressionSpec> candidates,
        double defaultMinQuality,
        double enterPressure,
        double exitPressure,
        Map<String, LatencyObjective> objectives,
        String defaultSloClass,
        Set<String> reclaimMethods,
        KvCompressionSpec fallback,
        int decisionsKept,
        KvCompressionSpec thresholdSpec,
        double thresholdUsage) {

    /** Settings of the learned choice (no threshold rule). */
    public PolicySettings(List<KvCompressionSpec> candidates, double defaultMinQuality, double enterPressure,
            double exitPressure, Map<String, LatencyObjective> objectives, String defaultSloClass,
            Set<String> reclaimMethods, KvCompressionSpec fallback, int decisionsKept) {
        this(candidates, defaultMinQuality, enterPressure, exitPressure, objectives, defaultSloClass, reclaimMethods,
                fallback, decisionsKept, null, 1.0);
    }

    public PolicySettings {
        candidates = candidates.contains(KvCompressionSpec.NONE) ? List.copyOf(candidates)
                : java.util.stream.Stream.concat(java.util.stream.Stream.of(KvCompressionSpec.NONE),
                        candidates.stream()).distinct().toList();
        objectives = Map.copyOf(objectives);
        reclaimMethods = Set.copyOf(reclaimMethods);
        if (!(exitPressure < enterPressure) || exitPressure < 0 || enterPressure > 1) {
            throw new IllegalArgumentException("pressure levels must satisfy 0 <= exit < enter <= 1, got exit "
                    + exitPressure + ", enter " + enterPressure);
        }
        if (!(defaultMinQuality >= 0 && defaultMinQuality <= 1)) {
            throw new IllegalArgumentException("default min quality must be in [0, 1], got " + defaultMinQuality);
        }
        if (!objectives.containsKey(defaultSloClass)) {
            throw new IllegalArgumentException("default SLO class '" + defaultSloClass + "' has no objectives; "
                    + "known: " + objectives.keySet());
        }
        if (decisionsKept < 1) {
            throw new IllegalArgumentException("decisions kept must be >= 1, got " + decisionsKept);
        }
    }

    public LatencyObjective objective(String sloClass) {
        return objectives.getOrDefault(sloClass == null ? defaultSloClass : sloClass, objectives.get(defaultSloClass));
    }

    /**
     * These settings without what {@code check} refuses (throws {@link IllegalArgumentException} for): candidates
     * dropped; an unservable fallback or threshold setting replaced by int8, which every model serves, or by no
     * compression. Each refusal is reported to {@code refused} (what, why).
     */
    public PolicySettings servableOn(Consumer<KvCompressionSpec> check,
            BiConsumer<String, String> refused) {
        List<KvCompressionSpec> kept = new ArrayList<>();
        for (KvCompressionSpec c : candidates) {
            String why = refusal(check, c);
            if (why == null) {
                kept.add(c);
            } else {
                refused.accept("candidate " + c + " left out", why);
            }
        }
        return new PolicySettings(kept, defaultMinQuality, enterPressure, exitPressure, objectives, defaultSloClass,
                reclaimMethods, servableOr(check, fallback, "fallback", refused), decisionsKept,
                thresholdSpec == null ? null : servableOr(check, thresholdSpec, "threshold setting", refused),
                thresholdUsage);
    }

    private static KvCompressionSpec servableOr(Consumer<KvCompressionSpec> check,
            KvCompressionSpec spec, String role, BiConsumer<String, String> refused) {
        String why = refusal(check, spec);
        if (why == null) {
            return spec;
        }
        KvCompressionSpec int8 = new KvCompressionSpec("none", 0.0, 8);
        KvCompressionSpec replacement = refusal(check, int8) == null ? int8 : KvCompressionSpec.NONE;
        refused.accept(role + " " + spec + " replaced by " + replacement, why);
        return replacement;
    }

    private static String refusal(Consumer<KvCompressionSpec> check, KvCompressionSpec spec) {
        try {
            check.accept(spec);
            return null;
        } catch (IllegalArgumentException e) {
            return e.getMessage();
        }
    }
}
