package io.kvpilot.policy;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.concurrent.TimeUnit;

/**
 * The controller's metrics: decisions by setting and reason, time per decision, the predicted quality of what was
 * chosen, and fallbacks by reason. Running caches the controller recompresses are counted by the scheduler
 * ({@code kvpilot_kv_recompressions_total}, one registration in {@code ServingMetrics}).
 */
public final class PolicyMetrics {

    private final MeterRegistry registry;
    private final Timer decisionTime;
    private final DistributionSummary predictedQuality;

    public PolicyMetrics(MeterRegistry registry) {
        this.registry = registry;
        this.decisionTime = Timer.builder("kvpilot.policy.decision")
                .description("Controller time per decision (candidates scored and one chosen)")
                .serviceLevelObjectives(java.time.Duration.ofNanos(10_000), java.time.Duration.ofNanos(50_000),
                        java.time.Duration.ofNanos(100_000), java.time.Duration.ofNanos(500_000),
                        java.time.Duration.ofMillis(1), java.time.Duration.ofMillis(5))
                .register(registry);
        this.predictedQuality = DistributionSummary.builder("kvpilot.policy.predicted.quality")
                .description("The predictor's quality estimate (retention, 0-1) for the setting chosen")
                .serviceLevelObjectives(0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999)
                .register(registry);
        // both reasons exported at 0 from start-up, so rate() and alerts see a series before the first fallback
        fallbacks("missing");
        fallbacks("invalid");
    }

    void decided(PolicyDecision d, long nanos) {
        Counter.builder("kvpilot.policy.decisions")
                .description("Controller decisions by chosen method, bits and reason")
                .tags("method", d.spec().method(), "bits", Integer.toString(d.spec().bits()), "reason", d.reason())
                .register(registry).increment();
        decisionTime.record(nanos, TimeUnit.NANOSECONDS);
        if (!Double.isNaN(d.predictedQuality())) {
            predictedQuality.record(d.predictedQuality());
        }
    }

    void fellBack(String reason) {
        fallbacks(reason).increment();
    }

    private Counter fallbacks(String reason) {
        return Counter.builder("kvpilot.policy.fallbacks")
                .description("Decisions taken by the static fallback, by why the predictor was not used")
                .tag("reason", reason).register(registry);
    }
}
