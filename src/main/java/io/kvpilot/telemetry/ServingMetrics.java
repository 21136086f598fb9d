package io.kvpilot.telemetry;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.config.MeterFilter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The serving metrics of docs/metrics.md, under the names vLLM uses (so its dashboards carry over), in base units.
 * Every {@code kvpilot.*} meter carries a {@code model_name} tag, added by {@link #modelNameTag} as vLLM labels its
 * own with the served model.
 */
public final class ServingMetrics {

    private final MeterRegistry registry;
    private final AtomicLong running = new AtomicLong();
    private final AtomicLong waiting = new AtomicLong();
    private final AtomicLong kvUsedBytes = new AtomicLong();
    private final AtomicLong kvBudgetBytes = new AtomicLong();
    private final Timer timeToFirstToken;
    private final Timer timePerOutputToken;
    private final Timer e2eLatency;
    private final Timer queueTime;
    private final Counter promptTokens;
    private final Counter generationTokens;
    private final KvAccountingMetrics kvAccounting;
    private final CompressionRatioHistogram compressionRatio;

    /** Without a Prometheus registry: {@code kvpilot_kv_compression_ratio} is not recorded (tests). */
    public ServingMetrics(MeterRegistry registry) {
        this(registry, null, "unknown");
    }

    /**
     * @param prometheus where {@code kvpilot_kv_compression_ratio} is registered ({@link CompressionRatioHistogram})
     * @param modelName the served model's id, that histogram's {@code model_name}
     */
    public ServingMetrics(MeterRegistry registry, PrometheusRegistry prometheus, String modelName) {
        this.registry = registry;
        this.compressionRatio = new CompressionRatioHistogram(prometheus, modelName);
        Gauge.builder("kvpilot.requests.running", running, AtomicLong::get)
                .description("Sequences in the running batch").register(registry);
        Gauge.builder("kvpilot.requests.waiting", waiting, AtomicLong::get)
                .description("Admitted requests waiting for KV room").register(registry);
        Gauge.builder("kvpilot.kv.cache.used.bytes", kvUsedBytes, AtomicLong::get)
                .description("KV bytes held by live sequences now (measured)").register(registry);
        Gauge.builder("kvpilot.kv.cache.budget.bytes", kvBudgetBytes, AtomicLong::get)
                .description("KV bytes admission may plan with").register(registry);
        Gauge.builder("kvpilot.kv.cache.usage.ratio", this, ServingMetrics::usageRatio)
                .description("Used over budget KV bytes, 0-1").register(registry);
        timeToFirstToken = timer("kvpilot.time.to.first.token", "Submission to first generated token");
        timePerOutputToken = timer("kvpilot.time.per.output.token", "Mean time between output tokens of a request");
        e2eLatency = timer("kvpilot.e2e.request.latency", "Submission to last token");
        queueTime = timer("kvpilot.request.queue.time", "Submission to admission into the running batch");
        promptTokens = Counter.builder("kvpilot.prompt.tokens").description("Prompt tokens prefilled")
                .register(registry);
        generationTokens = Counter.builder("kvpilot.generation.tokens").description("Tokens generated")
                .register(registry);
        kvAccounting = new KvAccountingMetrics(registry);
        recompressions("pressure"); // exported at 0 before the first
    }

    /** Adds {@code model_name=<modelName>} to every {@code kvpilot.*} meter that has none. */
    public static MeterFilter modelNameTag(String modelName) {
        return new MeterFilter() {
            @Override
            public Meter.Id map(Meter.Id id) {
                return id.getName().startsWith("kvpilot.") && id.getTag("model_name") == null
                        ? id.withTag(Tag.of("model_name", modelName)) : id;
            }
        };
    }

    private Timer timer(String name, String description) {
        return Timer.builder(name).description(description).publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofMillis(1)).maximumExpectedValue(Duration.ofMinutes(5))
                .register(registry);
    }

    public void updateLive(int runningNow, int waitingNow, long kvUsedNow, long kvBudget) {
        running.set(runningNow);
        waiting.set(waitingNow);
        kvUsedBytes.set(kvUsedNow);
        kvBudgetBytes.set(kvBudget);
    }

    public long kvUsedBytes() {
        return kvUsedBytes.get();
    }

    public double usageRatio() {
        long budget = kvBudgetBytes.get();
        return budget > 0 ? (double) kvUsedBytes.get() / budget : 0.0;
    }

    public void admitted(Duration waited, int promptTokenCount) {
        queueTime.record(waited);
        promptTokens.increment(promptTokenCount);
    }

    public void firstToken(Duration sinceSubmit) {
        timeToFirstToken.record(sinceSubmit);
    }

    /** A request ended; {@code perOutputToken} is null when it produced fewer than two tokens. */
    public void finished(String finishReason, int generated, Duration e2e, Duration perOutputToken) {
        Counter.builder("kvpilot.request.success").tag("finish_reason", finishReason)
                .description("Requests ended, by finish reason").register(registry).increment();
        generationTokens.increment(generated);
        e2eLatency.record(e2e);
        if (perOutputToken != null) {
            timePerOutputToken.record(perOutputToken);
        }
    }

    /**
     * Compression applied to one request's cache: the fraction of entries it removed (NaN when unknown: not
     * recorded) and the bytes it did not have to store.
     */
    public void kvCompression(String method, double appliedRatio, long bytesSaved) {
        compressionRatio.observe(method, appliedRatio);
        Counter.builder("kvpilot.kv.bytes.saved").tag("method", method)
                .description("KV bytes not stored thanks to compression").register(registry)
                .increment(Math.max(0, bytesSaved));
    }

    // --- KV accounting (issue 11): admission's byte prediction against what a request held ---

    /** A request finished: the peak KV bytes predicted for its tokens, and the peak its cache really held. */
    public void kvBytesPredicted(long predictedPeak, long heldPeak) {
        kvAccounting.kvBytes(predictedPeak, heldPeak);
    }

    public void tpotPredicted(double predictedSeconds, double measuredSeconds) {
        kvAccounting.tpot(predictedSeconds, measuredSeconds);
    }

    // --- end KV accounting ---

    /**
     * A running request's cache compressed further by the controller to make room for the next request
     * ({@code reason}: {@code pressure}); KVPilot's counterpart of vLLM's {@code num_preemptions_total} (nothing is
     * preempted: the sequence keeps generating on the smaller cache).
     */
    public void recompressed(String reason) {
        recompressions(reason).increment();
    }

    private Counter recompressions(String reason) {
        return Counter.builder("kvpilot.kv.recompressions").tag("reason", reason)
                .description("Running KV caches the controller compressed further to make room")
                .register(registry);
    }

    public void rejected(String reason) {
        Counter.builder("kvpilot.admission.rejections").tag("reason", reason)
                .description("Requests refused before admission, by reason").register(registry).increment();
    }
}
