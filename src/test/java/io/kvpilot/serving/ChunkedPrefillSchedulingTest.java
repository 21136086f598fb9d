package io.kvpilot.serving;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvpilot.engine.EngineLoader;
import io.kvpilot.engine.EngineOptions;
import io.kvpilot.engine.FinishReason;
import io.kvpilot.engine.batch.LlamaEngine;
import io.kvpilot.engine.SamplingParams;
import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.kvcache.press.KvMethods;
import io.kvpilot.telemetry.ServingMetrics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import reactor.core.publisher.Flux;

/**
 * On the real engine (KVPilot-mini), through the scheduler: while a 1,000-token prompt is prefilled in chunks, a
 * running stream goes on getting a token at every step (with chunking off it gets one, in the step that prefills the
 * whole prompt); the long request's tokens and its KV accounting are the same either way.
 */
class ChunkedPrefillSchedulingTest {

    static final int LONG_PROMPT = 1000;
    /** The long request's text from the first parameter's run, for the next to match. */
    static final AtomicReference<String> longText = new AtomicReference<>();

    @ParameterizedTest(name = "prefill-chunk-tokens {0}")
    @ValueSource(ints = {128, 0})
    void aRunningStreamKeepsDecodingWhileALongPromptIsPrefilledInChunks(int chunk) {
        AtomicReference<LlamaEngine> loaded = new AtomicReference<>();
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        SchedulerSettings settings = new SchedulerSettings(16, 64, 64, 64L << 20, Duration.ofMinutes(5),
                Duration.ofSeconds(1), Duration.ofMillis(5)).withPrefillChunkTokens(chunk);
        Scheduler scheduler = new Scheduler(() -> {
            loaded.set(EngineLoader.load(Path.of("models/kvpilot-mini"), EngineOptions.defaults()
                    .withCompressors(KvMethods.defaults())));
            return loaded.get();
        }, settings, new ServingMetrics(registry), System::nanoTime);
        try {
            scheduler.start();
            assertThat(scheduler.loaded()).succeedsWithin(Duration.ofMinutes(2));
            List<String> order = new CopyOnWriteArrayList<>(); // events of both requests, in the order emitted
            Flux<GenerationEvent> running = scheduler.submit(new GenerationRequest(new int[] {1, 450, 77, 1200},
                    new SamplingParams(0.0, 1.0, 0, 0L, 1500, List.of(), true), KvCompressionSpec.NONE, "request"))
                    .doOnNext(e -> order.add("running")).cache();
            running.subscribe(e -> {}, e -> {});
            while (order.size() < 3) {
                Thread.onSpinWait();
            }
            int[] prompt = new Random(3).ints(LONG_PROMPT, 10, 4000).toArray();
            int before = order.size();
            List<GenerationEvent> longEvents = scheduler.submit(new GenerationRequest(prompt,
                    new SamplingParams(0.0, 1.0, 0, 0L, 8, List.of(), true), new KvCompressionSpec("snapkv", 0.5, 16),
                    "request")).doOnNext(e -> order.add("long")).collectList().block(Duration.ofMinutes(2));

            List<String> snapshot = List.copyOf(order); // the running stream is still appending to order
            List<String> sinceSubmit = snapshot.subList(before, snapshot.size());
            int duringPrefill = sinceSubmit.indexOf("long");
            if (chunk == 0) {
                assertThat(duringPrefill).as("running-stream events before the long prompt's first token")
                        .isLessThanOrEqualTo(2);
            } else {
                // ceil(1000 / 128) = 8 steps, each decoding the running stream (a token's text may be held back)
                assertThat(duringPrefill).as("running-stream events before the long prompt's first token")
                        .isGreaterThanOrEqualTo(LONG_PROMPT / chunk - 2);
            }
            GenerationEvent end = longEvents.get(longEvents.size() - 1);
            assertThat(end.finishReason()).isEqualTo(FinishReason.LENGTH);
            assertThat(end.usage().completionTokens()).isEqualTo(8);
            StringBuilder text = new StringBuilder();
            longEvents.forEach(e -> text.append(e.text()));
            if (!longText.compareAndSet(null, text.toString())) {
                assertThat(text.toString()).as("the same text chunked or whole").isEqualTo(longText.get());
            }
            assertThat(registry.get("kvpilot.predictor.abs.error").tag("target", "kv_bytes").summary().max())
                    .as("|predicted - held| / held of the long request").isZero();
        } finally {
            scheduler.close();
        }
    }
}
