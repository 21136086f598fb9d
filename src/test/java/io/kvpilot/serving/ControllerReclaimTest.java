package io.kvpilot.serving;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.kvpilot.engine.EngineLoader;
import io.kvpilot.engine.GenerationEngine;
import io.kvpilot.engine.EngineOptions;
import io.kvpilot.engine.FinishReason;
import io.kvpilot.engine.SamplingParams;
import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.kvcache.press.KvMethods;
import io.kvpilot.policy.AdaptiveCompressionPolicy;
import io.kvpilot.policy.AutoCompression;
import io.kvpilot.policy.EngineKvCostModel;
import io.kvpilot.policy.EstimateKvCostModel;
import io.kvpilot.policy.KvCostModel;
import io.kvpilot.policy.LatencyObjective;
import io.kvpilot.policy.PolicyMetrics;
import io.kvpilot.policy.PolicySettings;
import io.kvpilot.policy.QualityPredictor;
import io.kvpilot.policy.StandInQualityPredictor;
import io.kvpilot.policy.StepTimeModel;
import io.kvpilot.telemetry.ServingMetrics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Flux;

/**
 * Under memory pressure the controller recompresses a running sequence instead of making the next request wait: on
 * the embedded model, with a stand-in quality predictor and a KV budget two uncompressed requests do not fit.
 */
class ControllerReclaimTest {

    static final Duration WAIT = Duration.ofSeconds(60);
    static final int BYTES_PER_TOKEN = 8 * 2 * 64 * 2 * 4; // kvpilot-mini: layers × kv heads × head dim × (K, V) × fp32

    static final long LACKING = 1 << 20; // what B lacks while A runs uncompressed

    static final QualityPredictor STAND_IN = new StandInQualityPredictor();

    final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    Scheduler scheduler;

    @AfterEach
    void stop() {
        if (scheduler != null) {
            scheduler.close();
        }
    }

    Scheduler start(long budget) {
        return start(budget, new EstimateKvCostModel(() -> BYTES_PER_TOKEN), engine -> {});
    }

    Scheduler start(long budget, KvCostModel costs, java.util.function.Consumer<GenerationEngine> loaded) {
        List<KvCompressionSpec> grid = List.of(KvCompressionSpec.NONE, new KvCompressionSpec("none", 0.0, 8),
                new KvCompressionSpec("keydiff", 0.25, 16), new KvCompressionSpec("keydiff", 0.5, 16),
                new KvCompressionSpec("keydiff", 0.25, 8));
        PolicySettings settings = new PolicySettings(grid, 0.9, 0.85, 0.6,
                Map.of("interactive", new LatencyObjective(3, 0.25)), "interactive", Set.of("keydiff"),
                new KvCompressionSpec("keydiff", 0.5, 16), 16);
        PolicyMetrics metrics = new PolicyMetrics(registry);
        AdaptiveCompressionPolicy policy = new AdaptiveCompressionPolicy(settings, STAND_IN,
                costs, new StepTimeModel(0.99, 20), metrics);
        SchedulerSettings limits = new SchedulerSettings(4, 64, 4, budget, Duration.ofMinutes(2),
                Duration.ofSeconds(1), Duration.ofMillis(2));
        EngineOptions options = EngineOptions.defaults().withCompressors(KvMethods.defaults());
        ServingMetrics servingMetrics = new ServingMetrics(registry);
        scheduler = new Scheduler(() -> {
            GenerationEngine engine = EngineLoader.load(Path.of("models/kvpilot-mini"), options);
            loaded.accept(engine);
            return engine;
        }, limits,
                servingMetrics, System::nanoTime, new ControllerHook(policy, servingMetrics, 0.9, "interactive"));
        scheduler.start();
        long until = System.nanoTime() + WAIT.toNanos();
        while (!scheduler.isReady()) {
            assertThat(System.nanoTime()).isLessThan(until);
            Thread.onSpinWait();
        }
        return scheduler;
    }

    GenerationRequest auto(int promptTokens, int maxTokens, Double minQuality) {
        int[] prompt = new int[promptTokens];
        for (int i = 0; i < promptTokens; i++) {
            prompt[i] = 10 + (i * 37) % 4000;
        }
        return new GenerationRequest(prompt, new SamplingParams(0, 1, 0, 0L, maxTokens, List.of(), true),
                KvCompressionSpec.NONE, "default", new AutoCompression(minQuality, null, null));
    }

    /** Submits {@code r} and returns its events (replayed) once its first token is out. */
    Flux<GenerationEvent> runningPastItsFirstToken(GenerationRequest r) {
        AtomicReference<GenerationEvent> first = new AtomicReference<>();
        Flux<GenerationEvent> events = scheduler.submit(r).doOnNext(e -> first.compareAndSet(null, e)).cache();
        events.subscribe();
        long until = System.nanoTime() + WAIT.toNanos();
        while (first.get() == null) {
            assertThat(System.nanoTime()).isLessThan(until);
            Thread.onSpinWait();
        }
        return events;
    }

    @Test
    void aRunningSequenceIsRecompressedSoTheNextRequestNeedNotWait() {
        // 160 tokens uncompressed reserve 1,310,720 bytes; the budget holds one of them and a half
        start(2_000_000);
        Flux<GenerationEvent> a = runningPastItsFirstToken(auto(100, 60, null));
        // b's floor 0.99 admits only none at 16 or 8 bits (753,664 bytes), more than the 689,280 left: a (floor 0.9)
        // is recompressed to int8, losing the least quality that makes room
        List<GenerationEvent> b = scheduler.submit(auto(100, 60, 0.99)).collectList().block(WAIT);
        List<GenerationEvent> aEvents = a.collectList().block(WAIT);

        Usage.KvReport aReport = aEvents.get(aEvents.size() - 1).usage().kvCache();
        Usage.KvReport bReport = b.get(b.size() - 1).usage().kvCache();
        assertThat(aEvents.get(aEvents.size() - 1).finishReason()).isEqualTo(FinishReason.LENGTH);
        assertThat(aEvents.get(aEvents.size() - 1).usage().completionTokens()).isEqualTo(60);
        assertThat(b.get(b.size() - 1).finishReason()).isEqualTo(FinishReason.LENGTH);
        assertThat(aReport.decidedBy()).isEqualTo("controller");
        assertThat(aReport.method()).isEqualTo("none");
        assertThat(aReport.bits()).as("a was recompressed to int8").isEqualTo(8);
        assertThat(aReport.predictedQuality()).isEqualTo(0.99);
        assertThat(aReport.bytes()).isLessThan(aReport.bytesUncompressed() * 2 / 3);
        assertThat(bReport.bits()).isEqualTo(8);
        assertThat(bReport.predictedQuality()).isGreaterThanOrEqualTo(0.99);
        assertThat(registry.get("kvpilot.kv.recompressions").tag("reason", "pressure").counter().count())
                .isEqualTo(1);
        long poolEmpty = System.nanoTime() + WAIT.toNanos();
        while (scheduler.kvBytesInUse() != 0 || scheduler.reservedKvBytes() != 0) {
            assertThat(System.nanoTime()).isLessThan(poolEmpty);
            Thread.onSpinWait();
        }
    }

    @Test
    void withTheEnginesExactFootprintsARunningSequenceIsPricedFromItsRecompressionOn() {
        // A's reservation dropped to what dense A can still hold once its first token was out; the int8 setting's
        // admission peak (the dense prompt and its conversion copy) is larger than that, so pricing A's recompression
        // at it found nothing to reclaim and B waited for A to end
        AtomicReference<GenerationEngine> engine = new AtomicReference<>();
        KvCostModel costs = new EngineKvCostModel(engine::get);
        KvCompressionSpec int8 = new KvCompressionSpec("none", 0.0, 8);
        GenerationEngine sizing = EngineLoader.load(Path.of("models/kvpilot-mini"),
                EngineOptions.defaults().withCompressors(KvMethods.defaults()));
        long aHeld;
        long bPeak;
        try (sizing) {
            aHeld = sizing.predictKv(KvCompressionSpec.NONE, 400, 30).peakAfterPrefillBytes();
            bPeak = sizing.predictKv(int8, 400, 30).peakBytes();
            assertThat(aHeld - bPeak).as("what int8 frees of A priced at its admission peak")
                    .isLessThan(LACKING / 2);
        }
        start(aHeld + bPeak - LACKING, costs, engine::set);
        Flux<GenerationEvent> a = runningPastItsFirstToken(auto(400, 30, null));
        List<GenerationEvent> b = scheduler.submit(auto(400, 30, 0.99)).collectList().block(WAIT);
        List<GenerationEvent> aEvents = a.collectList().block(WAIT);

        assertThat(registry.get("kvpilot.kv.recompressions").tag("reason", "pressure").counter().count())
                .as("A recompressed while running").isEqualTo(1);
        Usage.KvReport aReport = aEvents.get(aEvents.size() - 1).usage().kvCache();
        assertThat(aReport.bits()).isEqualTo(8);
        assertThat(aEvents.get(aEvents.size() - 1).usage().completionTokens()).isEqualTo(30);
        assertThat(b.get(b.size() - 1).finishReason()).isEqualTo(FinishReason.LENGTH);
        long poolEmpty = System.nanoTime() + WAIT.toNanos();
        while (scheduler.kvBytesInUse() != 0 || scheduler.reservedKvBytes() != 0) {
            assertThat(System.nanoTime()).isLessThan(poolEmpty);
            Thread.onSpinWait();
        }
    }

    @Test
    void aFloorNoSettingMeetsWithinTheWholeBudgetIsRefusedNotQueuedForever() {
        start(2_000_000);
        // floor 1: only uncompressed, 300 tokens × 8,192 bytes > the budget (the grid's smallest setting would fit)
        assertThatThrownBy(() -> scheduler.submit(auto(200, 100, 1.0)).collectList().block(WAIT))
                .isInstanceOfSatisfying(Rejection.class, r -> assertThat(r.reason()).isEqualTo(Rejection.Reason.TOO_LONG))
                .hasMessageContaining("min_quality");
        assertThat(scheduler.waitingCount()).isZero();
        assertThat(scheduler.submit(auto(20, 4, null)).collectList().block(WAIT)).isNotEmpty();
    }
}
