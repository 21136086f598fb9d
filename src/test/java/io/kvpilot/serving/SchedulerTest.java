package io.kvpilot.serving;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.kvpilot.engine.FinishReason;
import io.kvpilot.engine.SamplingParams;
import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.telemetry.ServingMetrics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import java.util.function.LongSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import reactor.core.Disposable;
import reactor.core.publisher.Flux;

/** Scheduler, admission and cancellation without a model; after every finish or cancel the pool is empty again. */
class SchedulerTest {

    private static final Duration WAIT = Duration.ofSeconds(10);

    private final FakeEngine engine = new FakeEngine(256);
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private Scheduler scheduler;

    private Scheduler start(int maxRunning, int maxWaiting, long budget, Duration deadline) {
        return start(maxRunning, maxWaiting, budget, deadline, System::nanoTime);
    }

    /** @param nanos the scheduler's clock: deadline tests move a manual one instead of waiting on the real one */
    private Scheduler start(int maxRunning, int maxWaiting, long budget, Duration deadline, LongSupplier nanos) {
        SchedulerSettings settings = new SchedulerSettings(maxRunning, 4096, maxWaiting, budget, deadline,
                Duration.ofSeconds(2), Duration.ofMillis(5));
        scheduler = new Scheduler(() -> engine, settings, new ServingMetrics(registry), nanos);
        scheduler.start();
        await(scheduler::isReady);
        return scheduler;
    }

    private Scheduler start() {
        return start(8, 8, 1 << 20, Duration.ofMinutes(1));
    }

    @AfterEach
    void stop() {
        if (scheduler != null) {
            scheduler.close();
        }
    }

    private static GenerationRequest request(String prompt, int maxTokens) {
        return new GenerationRequest(FakeEngine.CODEC.encode(prompt, true), SamplingParams.greedy(maxTokens),
                KvCompressionSpec.NONE, "request");
    }

    private static void await(BooleanSupplier condition) {
        long until = System.nanoTime() + WAIT.toNanos();
        while (!condition.getAsBoolean()) {
            assertThat(System.nanoTime()).as("condition within %s", WAIT).isLessThan(until);
            try {
                Thread.sleep(2);
            } catch (InterruptedException e) {
                throw new AssertionError(e);
            }
        }
    }

    private void assertPoolEmpty() {
        await(() -> engine.kvBytesInUse() == 0 && scheduler.reservedKvBytes() == 0 && scheduler.runningCount() == 0);
    }

    private static String text(List<GenerationEvent> events) {
        StringBuilder b = new StringBuilder();
        events.forEach(e -> b.append(e.text()));
        return b.toString();
    }

    @Test
    void generatesMaxTokensThenFinishesWithLengthAndFreesItsKv() {
        start();
        List<GenerationEvent> events = scheduler.submit(request("hello", 5)).collectList().block(WAIT);

        GenerationEvent last = events.get(events.size() - 1);
        assertThat(last.finishReason()).isEqualTo(FinishReason.LENGTH);
        assertThat(text(events)).hasSize(5);
        assertThat(last.usage().promptTokens()).isEqualTo(6);
        assertThat(last.usage().completionTokens()).isEqualTo(5);
        // 10 entries (the last token's is never written) in one whole 32-token block
        assertThat(last.usage().kvCache().bytes()).isEqualTo(32L * FakeEngine.KV_BYTES_PER_TOKEN);
        assertPoolEmpty();
    }

    @Test
    void concurrentRequestsAreDecodedTogetherInOneBatch() {
        engine.stepMillis = 5;
        start();
        List<Flux<GenerationEvent>> flows = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            flows.add(scheduler.submit(request("prompt " + i, 20)));
        }
        Flux.merge(flows).blockLast(WAIT);

        assertThat(engine.decodeBatchSizes).contains(4);
        assertPoolEmpty();
    }

    @Test
    void outputOfARequestDoesNotDependOnItsBatchmates() {
        start();
        String alone = text(scheduler.submit(request("same prompt", 12)).collectList().block(WAIT));
        Flux<GenerationEvent> other = scheduler.submit(request("another", 30));
        String batched = text(scheduler.submit(request("same prompt", 12)).collectList().block(WAIT));
        other.blockLast(WAIT);

        assertThat(batched).isEqualTo(alone);
    }

    @Test
    void runningBatchNeverExceedsMaxRunningSequences() {
        engine.stepMillis = 2;
        start(2, 8, 1 << 20, Duration.ofMinutes(1));
        List<Flux<GenerationEvent>> flows = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            flows.add(scheduler.submit(request("p" + i, 10)));
        }
        Flux.merge(flows).blockLast(WAIT);

        assertThat(engine.decodeBatchSizes).allMatch(size -> size <= 2);
        assertPoolEmpty();
    }

    @Test
    void requestWaitsUntilItsPredictedKvFitsTheBudget() {
        engine.stepMillis = 5;
        // one request peaks at (32 + 64) * 64 = 6144 bytes (its 45 entries outgrow a block, and the copy needs both);
        // the budget fits one, not two
        start(8, 8, 8000, Duration.ofMinutes(1));
        Flux<GenerationEvent> first = scheduler.submit(request("first", 40)).cache();
        first.subscribe();
        await(() -> scheduler.runningCount() == 1);
        Flux<GenerationEvent> second = scheduler.submit(request("secnd", 40)).cache();
        second.subscribe();
        await(() -> scheduler.waitingCount() == 1);

        assertThat(scheduler.runningCount()).isEqualTo(1);
        assertThat(second.blockLast(WAIT).finishReason()).isEqualTo(FinishReason.LENGTH);
        assertPoolEmpty();
    }

    @Test
    void aShortPromptWithALongAnswerReservesThePeakItWillHold() {
        engine.stepMillis = 1;
        start();
        KvCompressionSpec half = new KvCompressionSpec("snapkv", 0.5, 16);
        GenerationRequest r = new GenerationRequest(FakeEngine.CODEC.encode("hi", true), SamplingParams.greedy(150),
                half, "request");
        Flux<GenerationEvent> flow = scheduler.submit(r).cache();
        flow.subscribe();
        await(() -> scheduler.runningCount() == 1);

        // (1 - ratio) of the 153 tokens it will have seen, 76 entries, would be 4,864 bytes; bounded decoding lets the
        // cache grow by up to 32 entries between compactions, and a compaction holds the old and new blocks at once
        long reserved = scheduler.reservedKvBytes();
        GenerationEvent last = flow.blockLast(WAIT);
        assertThat(reserved).isEqualTo(engine.predictKv(half, 3, 150).peakBytes()).isGreaterThan(76L * 64);
        assertThat(last.usage().kvCache().bytes()).isLessThanOrEqualTo(reserved);
        assertPoolEmpty();
    }

    @Test
    void theKvPoolNeverPassesTheBudgetUnderABurstOfMixedRequests() {
        long budget = 40_000;
        engine.poolBudgetBytes = budget;
        start(16, 64, budget, Duration.ofMinutes(1));
        List<Flux<GenerationEvent>> flows = new ArrayList<>();
        java.util.Random rnd = new java.util.Random(3);
        List<KvCompressionSpec> specs = List.of(KvCompressionSpec.NONE, new KvCompressionSpec("snapkv", 0.5, 16),
                new KvCompressionSpec("streaming_llm", 0.75, 4), new KvCompressionSpec("none", 0.0, 8));
        for (int i = 0; i < 40; i++) {
            GenerationRequest r = new GenerationRequest(FakeEngine.CODEC.encode("p".repeat(1 + rnd.nextInt(120)), true),
                    SamplingParams.greedy(1 + rnd.nextInt(120)), specs.get(i % specs.size()), "request");
            flows.add(scheduler.submit(r));
        }
        List<GenerationEvent> ends = Flux.merge(flows).filter(e -> e.finishReason() != null).collectList()
                .block(Duration.ofSeconds(30));

        assertThat(ends).hasSize(40).allMatch(e -> e.finishReason() == FinishReason.LENGTH);
        assertThat(engine.peakBytesInUse()).isLessThanOrEqualTo(budget).isGreaterThan(budget / 2);
        assertPoolEmpty();
    }

    @Test
    void aSequenceTheBudgetCannotHoldFailsAloneAndThePoolStaysWithinIt() {
        long budget = 20_000;
        engine.poolBudgetBytes = budget;
        engine.predictionScale = 0.25; // a predictor that under-reserves: admission lets too many in
        start(16, 64, budget, Duration.ofMinutes(1));
        List<Flux<String>> flows = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            flows.add(scheduler.submit(request("p".repeat(40), 100)).filter(e -> e.finishReason() != null)
                    .map(e -> e.finishReason().name()).onErrorResume(e -> Flux.just("failed")));
        }
        List<String> ends = Flux.merge(flows).collectList().block(Duration.ofSeconds(30));

        assertThat(engine.peakBytesInUse()).isLessThanOrEqualTo(budget);
        assertThat(ends).hasSize(12).contains("failed", "LENGTH");
        assertPoolEmpty();
    }

    @Test
    void fullWaitingQueueIsRejectedWithRetryAfter() {
        engine.stepMillis = 20;
        start(1, 1, 1 << 20, Duration.ofMinutes(1));
        scheduler.submit(request("running", 50)).subscribe();
        await(() -> scheduler.runningCount() == 1);
        scheduler.submit(request("waiting", 5)).subscribe();

        assertThatThrownBy(() -> scheduler.submit(request("rejected", 5)))
                .isInstanceOfSatisfying(Rejection.class, r -> {
                    assertThat(r.reason()).isEqualTo(Rejection.Reason.QUEUE_FULL);
                    assertThat(r.retryAfter()).isEqualTo(Duration.ofSeconds(2));
                });
    }

    @Test
    void promptFillingTheContextWindowIsRejectedAsTooLong() {
        start();
        GenerationRequest tooLong = request("x".repeat(255), 5);

        assertThatThrownBy(() -> scheduler.submit(tooLong))
                .isInstanceOfSatisfying(Rejection.class,
                        r -> assertThat(r.reason()).isEqualTo(Rejection.Reason.TOO_LONG));
    }

    @Test
    void requestLargerThanTheWholeKvBudgetIsRejectedAsTooLong() {
        start(8, 8, 1000, Duration.ofMinutes(1));

        assertThatThrownBy(() -> scheduler.submit(request("hello", 100)))
                .isInstanceOfSatisfying(Rejection.class,
                        r -> assertThat(r.reason()).isEqualTo(Rejection.Reason.TOO_LONG));
    }

    @Test
    void maxTokensIsClampedToTheContextWindow() {
        start();
        GenerationEvent last = scheduler.submit(request("x".repeat(200), 500)).blockLast(WAIT);

        assertThat(last.finishReason()).isEqualTo(FinishReason.LENGTH);
        assertThat(last.usage().totalTokens()).isEqualTo(256);
    }

    @Test
    void cancellingARunningRequestReleasesItsKvWithinAStep() {
        engine.stepMillis = 10;
        start();
        Disposable subscription = scheduler.submit(request("cancel me", 1000 - 100)).subscribe();
        await(() -> engine.kvBytesInUse() > 0);

        subscription.dispose();

        assertPoolEmpty();
        assertThat(engine.released).filteredOn(id -> !id.startsWith("warmup")).containsExactly("seq-1");
    }

    @Test
    void cancellingAWaitingRequestNeverAdmitsIt() {
        engine.stepMillis = 10;
        start(1, 8, 1 << 20, Duration.ofMinutes(1));
        Disposable running = scheduler.submit(request("running", 30)).subscribe();
        await(() -> scheduler.runningCount() == 1);
        Disposable waiting = scheduler.submit(request("waiting", 30)).subscribe();

        waiting.dispose();
        running.dispose();

        assertPoolEmpty();
        await(() -> scheduler.waitingCount() == 0);
        assertThat(engine.released).filteredOn(id -> !id.startsWith("warmup")).containsExactly("seq-1");
    }

    @Test
    void deadlineEndsARequestWithTimeoutAndTheTextSoFar() {
        // the deadline passes when the test moves the scheduler's clock, not when a loaded machine gets round to it
        engine.stepMillis = 20;
        AtomicLong clock = new AtomicLong();
        start(8, 8, 1 << 20, Duration.ofMillis(200), clock::get);
        List<GenerationEvent> events = new CopyOnWriteArrayList<>();
        Disposable stream = scheduler.submit(request("slow", 240)).subscribe(events::add);
        await(() -> !text(events).isEmpty());
        clock.addAndGet(Duration.ofMillis(199).toNanos());
        await(() -> text(events).length() >= 3);
        assertThat(events).noneMatch(e -> e.finishReason() != null); // 199 ms of its 200 ms: still running

        clock.addAndGet(Duration.ofMillis(1).toNanos());
        await(() -> !events.isEmpty() && events.get(events.size() - 1).finishReason() != null);

        GenerationEvent last = events.get(events.size() - 1);
        assertThat(last.finishReason()).isEqualTo(FinishReason.TIMEOUT);
        assertThat(last.usage().completionTokens()).isBetween(3, 239);
        assertThat(text(events)).hasSize(last.usage().completionTokens());
        stream.dispose();
        assertPoolEmpty();
    }

    @Test
    void engineFailureFailsTheAffectedRequestAndFreesItsKv() {
        start();
        engine.failingSteps.set(1);

        assertThatThrownBy(() -> scheduler.submit(request("boom", 10)).blockLast(WAIT))
                .isInstanceOf(EngineFailureException.class);
        assertPoolEmpty();
    }

    @Test
    void sequenceTheEngineFinishedWithErrorFailsItsRequest() {
        start();
        engine.quietFailures.set(1);

        assertThatThrownBy(() -> scheduler.submit(request("quiet", 10)).blockLast(WAIT))
                .isInstanceOf(EngineFailureException.class);
        assertPoolEmpty();
    }

    @Test
    void schedulerKeepsServingAfterAnEngineFailure() {
        start();
        engine.failingSteps.set(1);
        scheduler.submit(request("boom", 10)).onErrorComplete().blockLast(WAIT);

        assertThat(scheduler.submit(request("fine", 3)).blockLast(WAIT).finishReason())
                .isEqualTo(FinishReason.LENGTH);
    }

    @Test
    void unknownCompressionMethodFailsAsInvalidRequest() {
        start();
        GenerationRequest bad = new GenerationRequest(FakeEngine.CODEC.encode("x", true), SamplingParams.greedy(3),
                new KvCompressionSpec("unknown_method", 0.5, 16), "request");

        assertThatThrownBy(() -> scheduler.submit(bad).blockLast(WAIT)).isInstanceOf(InvalidRequestException.class);
        assertPoolEmpty();
    }

    @Test
    void everyEngineCallRunsOnTheEngineThread() {
        start();
        scheduler.submit(request("thread", 4)).blockLast(WAIT);

        assertThat(engine.threads).containsExactly("kvpilot-engine");
    }

    @Test
    void notReadyWhileTheModelLoads() {
        SchedulerSettings settings = new SchedulerSettings(1, 1, 1, 1, Duration.ofSeconds(1), Duration.ofSeconds(1),
                Duration.ofMillis(5));
        scheduler = new Scheduler(() -> {
            Thread.sleep(60_000);
            return engine;
        }, settings, new ServingMetrics(new SimpleMeterRegistry()), System::nanoTime);
        scheduler.start();

        assertThatThrownBy(() -> scheduler.submit(request("early", 1)))
                .isInstanceOfSatisfying(Rejection.class,
                        r -> assertThat(r.reason()).isEqualTo(Rejection.Reason.NOT_READY));
    }

    @Test
    void closeLetsAdmittedRequestsFinishWithinTheGrace() {
        engine.stepMillis = 2;
        start();
        Flux<GenerationEvent> inFlight = scheduler.submit(request("drain", 20)).cache();
        inFlight.subscribe();

        scheduler.close(Duration.ofSeconds(5));

        assertThat(inFlight.blockLast(WAIT).finishReason()).isEqualTo(FinishReason.LENGTH);
        assertThat(engine.kvBytesInUse()).isZero();
    }

    @Test
    void aRequestWhoseDeadlinePassesInTheQueueFailsWithQueueTimeoutNotAnEmptySuccess() {
        engine.stepMillis = 20;
        AtomicLong clock = new AtomicLong();
        start(1, 8, 1 << 20, Duration.ofMillis(300), clock::get);
        Flux<GenerationEvent> running = scheduler.submit(request("first", 240)).cache();
        running.subscribe(e -> {}, e -> {});
        await(() -> scheduler.runningCount() == 1);
        Flux<GenerationEvent> queued = scheduler.submit(request("queued", 5)).cache();
        queued.subscribe(e -> {}, e -> {});
        await(() -> scheduler.waitingCount() == 1);

        clock.addAndGet(Duration.ofMillis(300).toNanos());

        assertThatThrownBy(() -> queued.blockLast(WAIT))
                .isInstanceOfSatisfying(Rejection.class, r -> {
                    assertThat(r.reason()).isEqualTo(Rejection.Reason.QUEUE_TIMEOUT);
                    assertThat(r.retryAfter()).isEqualTo(Duration.ofSeconds(2));
                });
        assertThat(running.blockLast(WAIT).finishReason()).isEqualTo(FinishReason.TIMEOUT);
        assertPoolEmpty();
    }

    @Test
    void endInFlightEndsRunningAndQueuedRequestsWithTheErrorFreesTheirKvAndKeepsServing() {
        engine.stepMillis = 5;
        start(1, 8, 1 << 20, Duration.ofMinutes(1));
        Rejection shutdown = new Rejection(Rejection.Reason.SHUTTING_DOWN, "shutting down", Duration.ofSeconds(1));
        List<Flux<GenerationEvent>> flows = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            Flux<GenerationEvent> f = scheduler.submit(request("long " + i, 1000)).cache();
            f.subscribe(e -> {}, e -> {});
            flows.add(f);
        }
        await(() -> scheduler.runningCount() == 1 && scheduler.waitingCount() == 2);

        scheduler.endInFlight(shutdown);

        for (Flux<GenerationEvent> f : flows) {
            assertThatThrownBy(() -> f.blockLast(WAIT)).isSameAs(shutdown);
        }
        assertThat(scheduler.awaitIdle(WAIT)).isTrue();
        assertPoolEmpty();
        assertThat(ended("shutting_down")).as("requests ended by shutdown, running and queued").isEqualTo(3);
        assertThat(scheduler.submit(request("after", 3)).blockLast(WAIT).finishReason())
                .isEqualTo(FinishReason.LENGTH);
    }

    @Test
    void aRequestTheEngineRefusesAtAdmissionIsCountedAsEnded() {
        start();
        engine.refuseNewSequences = true;

        assertThatThrownBy(() -> scheduler.submit(request("refused", 3)).blockLast(WAIT))
                .isInstanceOf(InvalidRequestException.class);

        assertThat(ended("invalid_request")).isEqualTo(1);
        assertPoolEmpty();
    }

    private double ended(String finishReason) {
        var counter = registry.find("kvpilot.request.success").tag("finish_reason", finishReason).counter();
        return counter == null ? 0 : counter.count();
    }
}
