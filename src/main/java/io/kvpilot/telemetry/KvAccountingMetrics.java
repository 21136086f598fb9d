package io.kvpilot.telemetry;

import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.MeterRegistry;

/**
 * How far admission's KV prediction was from what a request really held:
 * {@code kvpilot_predictor_abs_error{target="kv_bytes"}}, the relative error |predicted − held| / held of its peak
 * bytes, one observation per request that finished (stop or length); and {@code target="tpot"}, the controller's
 * predicted time per output token against the measured one.
 */
public final class KvAccountingMetrics {

    /** Buckets for a relative error: exact (below 0.01 %), 0.1 % to 100 % (and above). */
    static final double[] RELATIVE_ERROR_BUCKETS = {0.0001, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0};

    private final DistributionSummary kvBytesError;
    private final DistributionSummary tpotError;

    public KvAccountingMetrics(MeterRegistry registry) {
        kvBytesError = DistributionSummary.builder("kvpilot.predictor.abs.error").tag("target", "kv_bytes")
                .description("Relative error |predicted - observed| / observed of a predictor, per request")
                .serviceLevelObjectives(RELATIVE_ERROR_BUCKETS)
                .register(registry);
        tpotError = DistributionSummary.builder("kvpilot.predictor.abs.error").tag("target", "tpot")
                .description("Relative error |predicted - observed| / observed of a predictor, per request")
                .serviceLevelObjectives(RELATIVE_ERROR_BUCKETS)
                .register(registry);
    }

    /**
     * One finished request the controller decided: the time per output token its step-time model predicted at
     * admission against the request's measured mean TPOT (first to last token).
     */
    public void tpot(double predictedSeconds, double measuredSeconds) {
        if (!(predictedSeconds > 0) || !(measuredSeconds > 0) || !Double.isFinite(predictedSeconds)) {
            return; // the step model was not warm yet, or the request produced fewer than two tokens
        }
        tpotError.record(Math.abs(predictedSeconds - measuredSeconds) / measuredSeconds);
    }

    /** One finished request: the peak bytes predicted for the tokens it generated and the peak it held. */
    public void kvBytes(long predictedPeak, long heldPeak) {
        if (heldPeak <= 0) {
            return; // it never held a cache (failed before prefill)
        }
        kvBytesError.record(Math.abs(predictedPeak - heldPeak) / (double) heldPeak);
    }
}
