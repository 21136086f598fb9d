package io.kvpilot.telemetry;

import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

/**
 * {@code kvpilot_kv_compression_ratio}: the fraction of a request's KV entries compression removed, in buckets of
 * 0.05 (plus 0.99 and 1). Registered with the Prometheus client itself, not Micrometer: Micrometer's fixed-boundary
 * histograms round every observation up to a whole number ({@code TimeWindowFixedBoundaryHistogram.recordDouble}
 * takes {@code Math.ceil}, Micrometer 1.16), so a ratio of 0.5 counted as 1 and fell in no bucket but {@code +Inf}.
 */
final class CompressionRatioHistogram {

    static final String NAME = "kvpilot_kv_compression_ratio";
    static final double[] BUCKETS = {0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75,
        0.8, 0.85, 0.9, 0.95, 0.99, 1.0};

    private final Histogram histogram; // null: no Prometheus registry to export to
    private final String modelName;

    CompressionRatioHistogram(PrometheusRegistry registry, String modelName) {
        this.modelName = modelName;
        this.histogram = registry == null ? null : Histogram.builder().name(NAME)
                .help("Per-request fraction of KV entries compression removed (applied, not requested)")
                .labelNames("model_name", "method")
                .classicUpperBounds(BUCKETS).classicOnly().withoutExemplars()
                .register(registry);
    }

    void observe(String method, double ratio) {
        if (histogram != null && !Double.isNaN(ratio)) {
            histogram.labelValues(modelName, method).observe(ratio);
        }
    }
}
