package io.kvpilot.policy;

import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.kvcache.press.KvMethods;
import io.micrometer.core.instrument.MeterRegistry;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * Wires the controller when {@code kvpilot.policy.enabled} (the default). The quality predictor is a
 * {@link QualityPredictor} bean loaded from {@code kvpilot.policy.model-path}; without one the static fallback decides
 * (logged, counted in {@code kvpilot_policy_fallbacks_total{reason="missing"}}) and readiness stays UP. The KV cost
 * model is the serving layer's, which knows the loaded model.
 */
@Configuration(proxyBeanMethods = false)
@ConditionalOnProperty(prefix = "kvpilot.policy", name = "enabled", havingValue = "true", matchIfMissing = true)
class PolicyConfiguration {

    private static final Logger log = LoggerFactory.getLogger(PolicyConfiguration.class);

    @Bean
    PolicyMetrics policyMetrics(MeterRegistry registry) {
        return new PolicyMetrics(registry);
    }

    /**
     * The learned predictor of {@code kvpilot.policy.model-path} (checksum verified, version and checksum logged), or
     * none when it is missing or invalid: then the static fallback decides and the service still serves.
     */
    @Bean
    QualityPredictor qualityPredictor(PolicyProperties properties) {
        try {
            return LearnedQualityPredictor.load(properties.modelPath());
        } catch (PredictorArtefactException e) {
            log.warn("Quality predictor not loaded: {}", e.getMessage());
            return null; // no bean: compressionPolicy falls back
        }
    }

    @Bean
    AdaptiveCompressionPolicy compressionPolicy(PolicyProperties properties, KvMethods methods,
            ObjectProvider<QualityPredictor> predictor, KvCostModel costs, PolicyMetrics metrics) {
        QualityPredictor loaded = predictor.getIfAvailable();
        if (loaded == null) {
            log.warn("No quality predictor at {}{}: the static fallback decides \"auto\" requests",
                    properties.modelPath(), Files.isDirectory(properties.modelPath()) ? " (no loader for it)" : "");
        } else {
            log.info("Quality predictor loaded: {}", loaded.describe());
        }
        PolicyProperties.StepModel step = properties.stepModel();
        return new AdaptiveCompressionPolicy(settings(properties, methods), loaded, costs,
                new StepTimeModel(step.forgetting(), step.minSamples()), metrics);
    }

    /** Resolves the grid; a setting the engine cannot serve fails start-up, not every request. */
    static PolicySettings settings(PolicyProperties p, KvMethods methods) {
        LinkedHashSet<KvCompressionSpec> grid = new LinkedHashSet<>();
        grid.add(KvCompressionSpec.NONE);
        for (int bits : p.candidates().quantizationOnlyBits()) {
            grid.add(new KvCompressionSpec("none", 0.0, bits));
        }
        for (String method : p.candidates().methods()) {
            for (double ratio : p.candidates().ratios()) {
                for (int bits : p.candidates().bits()) {
                    grid.add(new KvCompressionSpec(method, ratio, bits));
                }
            }
        }
        List<KvCompressionSpec> candidates = new ArrayList<>(grid);
        candidates.forEach(methods::create);
        KvCompressionSpec fallback = new KvCompressionSpec(p.fallback().method(), p.fallback().ratio(),
                p.fallback().bits());
        methods.create(fallback);
        for (String m : p.reclaimMethods()) {
            if (methods.create(new KvCompressionSpec(m, 0.5, 16)).observationWindow() > 0) {
                throw new IllegalArgumentException("kvpilot.policy.reclaim-methods: " + m + " scores with the prompt's"
                        + " window attention, which a running cache no longer has");
            }
        }
        Map<String, LatencyObjective> objectives = new LinkedHashMap<>();
        p.sloClasses().forEach((name, o) -> objectives.put(name,
                new LatencyObjective(o.ttft().toNanos() / 1e9, o.tpot().toNanos() / 1e9)));
        KvCompressionSpec threshold = null;
        if (p.threshold().enabled()) {
            threshold = new KvCompressionSpec(p.threshold().method(), p.threshold().ratio(), p.threshold().bits());
            methods.create(threshold);
        }
        return new PolicySettings(candidates, p.minQuality(), p.pressure().enter(), p.pressure().exit(), objectives,
                p.defaultSloClass(), new LinkedHashSet<>(p.reclaimMethods()), fallback, p.decisionsKept(), threshold,
                p.threshold().usage());
    }
}
