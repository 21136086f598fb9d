package io.kvpilot.serving;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvpilot.engine.EngineLoader;
import io.kvpilot.engine.EngineOptions;
import io.kvpilot.engine.FinishReason;
import io.kvpilot.engine.batch.LlamaEngine;
import io.kvpilot.engine.SamplingParams;
import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.kvcache.press.KvFootprint;
import io.kvpilot.kvcache.press.KvMethods;
import io.kvpilot.telemetry.ServingMetrics;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import reactor.core.publisher.Flux;

/**
 * On the real engine (KVPilot-mini): a burst of requests with mixed compression never takes the KV pool past the
 * budget — admission reserves each sequence's exact peak and the pool enforces the same budget, prompts fed in
 * chunks of 48 tokens a step included — every request runs
 * to its end, and the predictor-error histogram records each request's peak as predicted exactly.
 */
class RealEngineKvBudgetTest {

    @Test
    void aBurstOfMixedCompressionStaysWithinTheBudgetAndIsPredictedExactly() {
        long budget = 3L << 20; // KVPilot-mini holds 8 KiB per dense token: a few sequences at once
        AtomicReference<LlamaEngine> loaded = new AtomicReference<>();
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        SchedulerSettings settings = new SchedulerSettings(16, 64, 64, budget, Duration.ofMinutes(5),
                Duration.ofSeconds(1), Duration.ofMillis(5)).withPrefillChunkTokens(48); // most prompts in chunks
        Scheduler scheduler = new Scheduler(() -> {
            loaded.set(EngineLoader.load(Path.of("models/kvpilot-mini"), EngineOptions.defaults()
                    .withCompressors(KvMethods.defaults()).withKvBudgetBytes(budget)));
            return loaded.get();
        }, settings, new ServingMetrics(registry), System::nanoTime);
        try {
            scheduler.start();
            long until = System.nanoTime() + Duration.ofMinutes(2).toNanos();
            while (!scheduler.isReady() && System.nanoTime() < until) {
                Thread.onSpinWait();
            }
            assertThat(scheduler.isReady()).isTrue();
            List<KvCompressionSpec> specs = List.of(KvCompressionSpec.NONE, new KvCompressionSpec("snapkv", 0.5, 16),
                    new KvCompressionSpec("streaming_llm", 0.75, 4), new KvCompressionSpec("keydiff", 0.5, 8),
                    new KvCompressionSpec("lowrank_keys", 0.5, 16), new KvCompressionSpec("pyramidkv", 0.75, 2));
            Random rnd = new Random(11);
            List<Flux<GenerationEvent>> flows = new ArrayList<>();
            for (int i = 0; i < 18; i++) {
                int[] prompt = rnd.ints(5 + rnd.nextInt(120), 10, 4000).toArray();
                SamplingParams sampling = new SamplingParams(0.0, 1.0, 0, 1L, 10 + rnd.nextInt(80), List.of(), true);
                flows.add(scheduler.submit(new GenerationRequest(prompt, sampling, specs.get(i % specs.size()),
                        "request")));
            }
            List<GenerationEvent> ends = Flux.merge(flows).filter(e -> e.finishReason() != null).collectList()
                    .block(Duration.ofMinutes(3));

            assertThat(ends).hasSize(18).allMatch(e -> e.finishReason() == FinishReason.LENGTH);
            assertThat(loaded.get().kvPool().peakBytesInUse()).isLessThanOrEqualTo(budget);
            DistributionSummary error = registry.get("kvpilot.predictor.abs.error").tag("target", "kv_bytes")
                    .summary();
            assertThat(error.count()).isEqualTo(18);
            assertThat(error.max()).as("largest |predicted - held| / held").isZero();
            assertThat(loaded.get().kvBytesInUse()).isZero();
        } finally {
            scheduler.close();
        }
    }

    /**
     * A compressed sequence gives back its prefill's transient bytes after its first token: two requests whose peaks do
     * not fit the budget together still run side by side, because the first one's reservation drops to what it holds
     * after prefill. Without the drop the second would wait for the first to finish.
     */
    @Test
    void aCompressedSequenceGivesBackItsPrefillPeakAfterTheFirstToken() {
        KvCompressionSpec spec = new KvCompressionSpec("keydiff", 0.75, 16);
        int promptTokens = 600;
        int maxTokens = 150;
        AtomicReference<LlamaEngine> loaded = new AtomicReference<>();
        long[] budget = new long[1];
        Scheduler scheduler = null;
        try {
            LlamaEngine engine = EngineLoader.load(Path.of("models/kvpilot-mini"), EngineOptions.defaults()
                    .withCompressors(KvMethods.defaults()));
            KvFootprint f = engine.predictKv(spec, promptTokens, maxTokens);
            engine.close();
            assertThat(f.peakAfterPrefillBytes()).as("after prefill, of peak %d", f.peakBytes())
                    .isLessThan(f.peakBytes() / 2);
            budget[0] = f.peakBytes() + f.peakAfterPrefillBytes() + 4096; // both peaks would not fit: 2 x peak
            SchedulerSettings settings = new SchedulerSettings(16, 64, 64, budget[0], Duration.ofMinutes(5),
                    Duration.ofSeconds(1), Duration.ofMillis(5));
            scheduler = new Scheduler(() -> {
                loaded.set(EngineLoader.load(Path.of("models/kvpilot-mini"), EngineOptions.defaults()
                        .withCompressors(KvMethods.defaults()).withKvBudgetBytes(budget[0])));
                return loaded.get();
            }, settings, new ServingMetrics(new SimpleMeterRegistry()), System::nanoTime);
            scheduler.start();
            long until = System.nanoTime() + Duration.ofMinutes(2).toNanos();
            while (!scheduler.isReady() && System.nanoTime() < until) {
                Thread.onSpinWait();
            }
            assertThat(scheduler.isReady()).isTrue();
            Random rnd = new Random(5);
            Map<String, Long> firstText = new ConcurrentHashMap<>();
            Map<String, Long> finished = new ConcurrentHashMap<>();
            List<Flux<GenerationEvent>> flows = new ArrayList<>();
            for (String name : List.of("a", "b")) {
                int[] prompt = rnd.ints(promptTokens, 10, 4000).toArray();
                SamplingParams sampling = new SamplingParams(0.0, 1.0, 0, 1L, maxTokens, List.of(), true);
                flows.add(scheduler.submit(new GenerationRequest(prompt, sampling, spec, "request")).doOnNext(e -> {
                    long now = System.nanoTime();
                    if (e.text() != null && !e.text().isEmpty()) {
                        firstText.putIfAbsent(name, now);
                    }
                    if (e.finishReason() != null) {
                        finished.put(name, now);
                    }
                }));
            }
            List<GenerationEvent> ends = Flux.merge(flows).filter(e -> e.finishReason() != null).collectList()
                    .block(Duration.ofMinutes(3));

            assertThat(ends).hasSize(2).allMatch(e -> e.finishReason() == FinishReason.LENGTH);
            assertThat(firstText.get("b")).as("b started before a ended").isLessThan(finished.get("a"));
            assertThat(loaded.get().kvPool().peakBytesInUse()).isLessThanOrEqualTo(budget[0]);
            assertThat(loaded.get().kvBytesInUse()).isZero();
        } finally {
            if (scheduler != null) {
                scheduler.close();
            }
        }
    }
}
