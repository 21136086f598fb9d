package io.kvpilot.serving;

import io.kvpilot.engine.EngineStepStats;
import io.kvpilot.engine.FinishReason;
import io.kvpilot.engine.GenerationEngine;
import io.kvpilot.engine.KvCacheManager;
import io.kvpilot.engine.ModelInfo;
import io.kvpilot.engine.SamplingParams;
import io.kvpilot.engine.Sequence;
import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.serving.Rejection.Reason;
import io.kvpilot.telemetry.EngineStepSample;
import io.kvpilot.telemetry.ResidentMemory;
import io.kvpilot.telemetry.ServingMetrics;
import io.kvpilot.telemetry.Telemetry;
import io.kvpilot.telemetry.TelemetrySnapshot;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Flux;

/**
 * Continuous batching on one engine thread (never a Netty event loop). There is no decoding phase nor prefill phase
 * (vLLM v1's step model): every step (1) stops cancelled and expired requests, (2) admits waiting requests whose
 * predicted KV fits the budget (reserving it for the whole prompt and {@code max_tokens}), (3) feeds the next chunk of
 * the prompts still prefilling, the admitted ones among them, at most {@code prefill-chunk-tokens} in all, and (4)
 * decodes one token for every other running sequence — one engine call, one forward pass when it is small enough —
 * and (5) streams the new text and releases finished sequences, all within that step. A long prompt so takes several
 * steps, and the running streams decode between its chunks instead of stalling for the whole of it.
 */
public final class Scheduler implements AutoCloseable {

    /** Where the scheduler is in its life; only {@code READY} accepts requests. */
    public enum State { LOADING, READY, DRAINING, STOPPED, FAILED }

    /** {@code finish_reason} of a request the engine refused at admission (answered 400 on kv_compression). */
    static final String ENDED_INVALID = "invalid_request";
    /** {@code finish_reason} of a request shutdown ended before it finished (answered 503). */
    static final String ENDED_BY_SHUTDOWN = "shutting_down";

    private static final Logger log = LoggerFactory.getLogger(Scheduler.class);

    private final EngineFactory factory;
    private final SchedulerSettings settings;
    private final ServingMetrics metrics;
    private final Telemetry telemetry;
    private final LongSupplier nanoClock;
    private final Thread thread;
    private final KvCacheManager budget;
    private final ControllerHook controller; // null: "auto" is the static default
    private final ConcurrentLinkedQueue<Ticket> inbox = new ConcurrentLinkedQueue<>();
    private final AtomicInteger waitingCount = new AtomicInteger();
    private final AtomicInteger inFlight = new AtomicInteger();
    private final AtomicLong ids = new AtomicLong();
    private final ArrayDeque<Ticket> waiting = new ArrayDeque<>();
    private final List<Ticket> running = new ArrayList<>();
    private volatile State state = State.LOADING;
    private volatile GenerationEngine engine;
    private volatile int runningCount;
    private volatile long kvBytesInUse;
    private final CompletableFuture<Void> loaded = new CompletableFuture<>();
    /** Set by {@link #endInFlight}: the engine thread ends every in-flight request with it at its next step. */
    private volatile RuntimeException endInFlightWith;

    public Scheduler(EngineFactory factory, SchedulerSettings settings, ServingMetrics metrics, LongSupplier nanos) {
        this(factory, settings, metrics, nanos, null);
    }

    /** @param controller decides {@code auto} requests at admission and reclaims room under pressure; null for none */
    public Scheduler(EngineFactory factory, SchedulerSettings settings, ServingMetrics metrics, LongSupplier nanos,
            ControllerHook controller) {
        this(factory, settings, metrics, new Telemetry(nanos, ResidentMemory.ofThisProcess(nanos)), nanos, controller);
    }

    /** @param telemetry what the controller reads: fed here with every step, queue state and request latency */
    public Scheduler(EngineFactory factory, SchedulerSettings settings, ServingMetrics metrics, Telemetry telemetry,
            LongSupplier nanos) {
        this(factory, settings, metrics, telemetry, nanos, null);
    }

    public Scheduler(EngineFactory factory, SchedulerSettings settings, ServingMetrics metrics, Telemetry telemetry,
            LongSupplier nanos, ControllerHook controller) {
        this.factory = factory;
        this.controller = controller;
        this.settings = settings;
        this.metrics = metrics;
        this.telemetry = telemetry;
        this.nanoClock = nanos;
        this.budget = KvCacheManager.reserving(settings.kvBudgetBytes(), () -> engine);
        this.thread = new Thread(this::run, "kvpilot-engine");
        this.thread.setDaemon(true);
        metrics.updateLive(0, 0, 0, settings.kvBudgetBytes());
    }

    /** Starts the engine thread (idempotent); it loads and warms the model, then serves. */
    public synchronized void start() {
        if (thread.getState() == Thread.State.NEW) {
            thread.start();
        }
    }

    /** Takes requests again after {@link #beginDrain()} (a stopped-then-restarted context, as in cached tests). */
    public synchronized void resume() {
        if (state == State.DRAINING) {
            state = State.READY;
        }
    }

    public State state() {
        return state;
    }

    public boolean isReady() {
        return state == State.READY;
    }

    /** Completes when the model is loaded and warmed, or exceptionally with why it could not be. */
    public CompletableFuture<Void> loaded() {
        return loaded;
    }

    /** The loaded engine; only meaningful while {@link #isReady()}. Its codec and model info are thread-safe. */
    public GenerationEngine engine() {
        return engine;
    }

    public SchedulerSettings settings() {
        return settings;
    }

    public int runningCount() {
        return runningCount;
    }

    public int waitingCount() {
        return waitingCount.get();
    }

    /** KV bytes the engine's live sequences held after the last step (measured, read on the engine thread). */
    public long kvBytesInUse() {
        return kvBytesInUse;
    }

    /** KV bytes reserved by admitted sequences (predicted), for tests and the admin view. */
    public long reservedKvBytes() {
        return budget.reservedBytes();
    }

    /**
     * Queues a request and returns its ordered events; cancelling the subscription cancels the sequence.
     *
     * @throws Rejection when not ready, when the prompt cannot fit the context window or the KV budget, or when the
     *     waiting queue is full; nothing is queued then
     */
    public Flux<GenerationEvent> submit(GenerationRequest request) {
        if (state != State.READY) {
            throw new Rejection(Reason.NOT_READY, "The model is not ready (" + state + ")", null);
        }
        ModelInfo info = engine.modelInfo();
        int prompt = request.promptIds().length;
        if (prompt == 0) {
            throw new InvalidRequestException("prompt", "The prompt is empty after tokenization");
        }
        if (prompt >= info.contextLength()) {
            throw new Rejection(Reason.TOO_LONG, "The prompt has " + prompt + " tokens; this model's context window is "
                    + info.contextLength() + " tokens (prompt plus at least one generated token)", null);
        }
        SamplingParams s = request.sampling();
        int maxTokens = Math.min(s.maxTokens(), info.contextLength() - prompt);
        GenerationRequest clamped = request.withSampling(new SamplingParams(
                s.temperature(), s.topP(), s.topK(), s.seed(), maxTokens, s.stop(), s.ignoreEos()));
        try {
            engine.checkServable(request.compression());
        } catch (IllegalArgumentException e) {
            throw new InvalidRequestException("kv_compression", e.getMessage());
        }
        long predicted = predictedPeak(request.compression(), prompt, maxTokens);
        // an auto request is decided at admission; here it only has to fit at the controller's smallest setting
        long smallest = controller == null || request.auto() == null ? predicted
                : predictedPeak(controller.policy().smallestCandidate(), prompt, maxTokens);
        if (smallest > budget.budgetBytes()) {
            throw new Rejection(Reason.TOO_LONG, "The request needs " + smallest + " KV bytes at its peak (prompt plus "
                    + "max_tokens); the KV budget is " + budget.budgetBytes() + " bytes", null);
        }
        if (waitingCount.incrementAndGet() > settings.maxWaiting()) {
            waitingCount.decrementAndGet();
            throw new Rejection(Reason.QUEUE_FULL, "Too many requests are waiting; retry later",
                    settings.retryAfter());
        }
        inFlight.incrementAndGet();
        long now = nanoClock.getAsLong();
        Ticket ticket = new Ticket("seq-" + ids.incrementAndGet(), clamped, predicted, now,
                now + settings.deadline().toNanos());
        inbox.add(ticket);
        LockSupport.unpark(thread);
        if (state == State.STOPPED && inbox.remove(ticket)) {
            waitingCount.decrementAndGet();
            inFlight.decrementAndGet();
            throw new Rejection(Reason.NOT_READY, "The server is shutting down", null);
        }
        return ticket.events();
    }

    /** The KV bytes a sequence will hold at its peak: what it reserves (KvCacheManager#predict, exact). */
    private long predictedPeak(KvCompressionSpec spec, int prompt, int maxTokens) {
        try {
            return budget.predict(spec, prompt, maxTokens).peakBytes();
        } catch (IllegalArgumentException e) {
            throw new InvalidRequestException("kv_compression", e.getMessage());
        }
    }

    /**
     * Re-reserves an admitted request's KV for another compression plan (the controller tightening or relaxing it):
     * its reservation becomes the new spec's predicted peak if the difference fits the budget. Engine thread only;
     * false (nothing changed) when it does not fit or the request is not admitted. Changing what the engine does with
     * the cache is the caller's part.
     */
    boolean replan(Ticket ticket, KvCompressionSpec spec) {
        Sequence s = ticket.sequence();
        if (s == null || s.isFinished()) {
            return false;
        }
        long next = budget.predict(spec, s.promptLength(), s.sampling().maxTokens()).peakBytes();
        if (!budget.tryReplan(ticket.predictedBytes, next)) {
            return false;
        }
        ticket.predictedBytes = next;
        return true;
    }

    private void run() {
        try {
            engine = factory.load();
            engine.warmUp(settings.maxRunningSequences());
            if (controller != null) {
                controller.policy().servableOn(engine::checkServable);
            }
            synchronized (this) {
                if (state != State.LOADING) { // closed while loading
                    engine.close();
                    return;
                }
                state = State.READY;
            }
            log.info("Model {} loaded and warmed; KV budget {} bytes", engine.modelInfo().id(), budget.budgetBytes());
            loaded.complete(null);
        } catch (Throwable e) {
            state = State.FAILED;
            log.error("Loading the model failed; the service cannot serve and exits", e);
            loaded.completeExceptionally(e);
            return;
        }
        while (state == State.READY || state == State.DRAINING) {
            boolean busy;
            try {
                busy = step();
            } catch (RuntimeException e) {
                // A bug outside the engine calls must not kill the engine thread: fail what was in flight, go on.
                log.error("Scheduler step failed; failing in-flight requests", e);
                endAll(new EngineFailureException("The scheduler failed: " + e.getMessage(), e));
                busy = false;
            }
            if (!busy) {
                LockSupport.parkNanos(settings.idlePoll().toNanos());
            }
        }
        endAll(new Rejection(Reason.NOT_READY, "The server is shutting down", null));
        engine.close();
    }

    /** One engine step; true when it had work, so the loop goes on without sleeping. */
    boolean step() {
        RuntimeException end = endInFlightWith;
        if (end != null) {
            endInFlightWith = null;
            endAll(end);
        }
        long now = nanoClock.getAsLong();
        for (Ticket t; (t = inbox.poll()) != null; ) {
            waiting.add(t);
        }
        expireWaiting(now);
        stopCancelledAndExpired(now);
        List<Ticket> prefilling = new ArrayList<>();
        List<Ticket> decoding = new ArrayList<>(running.size());
        for (Ticket t : running) {
            Sequence s = t.sequence();
            if (!s.isFinished()) {
                (s.generatedCount() == 0 ? prefilling : decoding).add(t); // no token yet: its prompt is not all in
            }
        }
        List<Ticket> admitted = admit(now);
        prefilling.addAll(admitted);
        long started = nanoClock.getAsLong();
        runEngine(prefilling, decoding);
        recordStep(prefilling, decoding, nanoClock.getAsLong() - started);
        running.addAll(admitted);
        retire(nanoClock.getAsLong());
        runningCount = running.size();
        kvBytesInUse = budget.bytesInUse();
        metrics.updateLive(running.size(), waitingCount.get(), kvBytesInUse, budget.budgetBytes());
        Ticket oldest = waiting.peek();
        telemetry.recordLive(running.size(), waitingCount.get(),
                oldest == null ? Telemetry.NONE_WAITING : oldest.submittedNanos, kvBytesInUse, budget.reservedBytes(),
                budget.budgetBytes());
        return !running.isEmpty() || !admitted.isEmpty();
    }

    /**
     * Waiting requests that were cancelled or ran out of time end without ever holding KV; one whose deadline passed
     * in the queue fails with {@link Reason#QUEUE_TIMEOUT} (an error that says so, not an empty success).
     */
    private void expireWaiting(long now) {
        waiting.removeIf(t -> {
            FinishReason reason = t.isCancelled() ? FinishReason.CANCELLED
                    : now >= t.deadlineNanos ? FinishReason.TIMEOUT : null;
            if (reason == null) {
                return false;
            }
            waitingCount.decrementAndGet();
            inFlight.decrementAndGet();
            report(t, reason, 0, now);
            if (reason == FinishReason.TIMEOUT) {
                t.fail(new Rejection(Reason.QUEUE_TIMEOUT, "The request waited " + Duration.ofNanos(
                        now - t.submittedNanos).toMillis() + " ms in the queue and reached its deadline before it "
                        + "could start; the server is overloaded", settings.retryAfter()));
            } else {
                t.complete("", reason, new Usage(t.promptLength(), 0, kvReport(t, 0, 0)));
            }
            return true;
        });
    }

    private void stopCancelledAndExpired(long now) {
        for (Ticket t : running) {
            if (t.isCancelled()) {
                t.sequence().finish(FinishReason.CANCELLED);
            } else if (now >= t.deadlineNanos) {
                t.sequence().finish(FinishReason.TIMEOUT);
            }
        }
    }

    /** FIFO admission: the head waits until its predicted KV fits, so no request starves behind smaller ones. */
    private List<Ticket> admit(long now) {
        List<Ticket> admitted = new ArrayList<>();
        int stepTokens = running.size();
        // Reservations are exact peaks (compaction copies and block rounding included): within the budget they never
        // let the engine's pool, which enforces the same budget, refuse an allocation.
        while (!waiting.isEmpty() && running.size() + admitted.size() < settings.maxRunningSequences()) {
            Ticket next = waiting.peek();
            boolean fitsStep = admitted.isEmpty() || stepTokens + next.promptLength() <= settings.maxBatchedTokens();
            if (controller != null && next.request.auto() != null) {
                controller.decide(next, budget.reservedBytes(), snapshot(now));
                if (next.predictedBytes > budget.budgetBytes()) {
                    refuseUnfittable(next, now);
                    continue;
                }
            }
            long lacking = next.predictedBytes - (budget.budgetBytes() - budget.reservedBytes());
            if (fitsStep && lacking > 0 && controller != null && next.reclaimTriedAt != budget.reservedBytes()) {
                // compress running sequences before anyone waits; tried again only once reservations change
                next.reclaimTriedAt = budget.reservedBytes();
                controller.reclaim(lacking, running, budget, engine, snapshot(now));
            }
            if (!fitsStep || !budget.tryReserve(next.predictedBytes)) {
                break;
            }
            waiting.poll();
            // counted as running before it stops counting as waiting, so that no reader sees it in neither
            runningCount = running.size() + admitted.size() + 1;
            waitingCount.decrementAndGet();
            stepTokens += next.promptLength();
            GenerationRequest r = next.request;
            try {
                Sequence sequence = engine.newSequence(next.id, r.promptIds(), r.sampling(), next.spec);
                if (r.inspect()) {
                    sequence.traceKeptPositions();
                }
                next.admit(sequence, now);
            } catch (IllegalArgumentException e) {
                runningCount = running.size() + admitted.size();
                budget.release(next.predictedBytes);
                inFlight.decrementAndGet();
                report(next, ENDED_INVALID, 0, now);
                next.fail(new InvalidRequestException("kv_compression", e.getMessage()));
                continue;
            }
            metrics.admitted(Duration.ofNanos(now - next.submittedNanos), next.promptLength());
            admitted.add(next);
        }
        return admitted;
    }

    /** An auto request whose quality floor cannot be met within the whole KV budget would wait forever. */
    private void refuseUnfittable(Ticket t, long now) {
        waiting.poll();
        waitingCount.decrementAndGet();
        inFlight.decrementAndGet();
        metrics.rejected(Reason.TOO_LONG.wireName());
        t.fail(new Rejection(Reason.TOO_LONG, "Within its min_quality the request needs about " + t.predictedBytes
                + " KV bytes; the KV budget is " + budget.budgetBytes() + " bytes", null));
    }

    /** What the controller decides from: telemetry's view, with the queue and reservations as they are right now. */
    private TelemetrySnapshot snapshot(long now) {
        TelemetrySnapshot t = telemetry.snapshot();
        Ticket oldest = waiting.peek();
        double oldestWait = oldest == null ? 0.0 : (now - oldest.submittedNanos) / 1e9;
        return new TelemetrySnapshot(now, t.lastStep(), t.stepSecondsP50(), running.size(), waiting.size(), oldestWait,
                budget.bytesInUse(), budget.reservedBytes(), budget.budgetBytes(), t.rssBytes(), t.shortWindow(),
                t.longWindow());
    }
    /**
     * The step's one engine call — the next chunk of the prompts still prefilling (the admitted among them), decode
     * of the others, in one forward pass where the engine can (GenerationEngine#step); a failure fails exactly the
     * sequences of that call.
     */
    private void runEngine(List<Ticket> prefilling, List<Ticket> decoding) {
        if (prefilling.isEmpty() && decoding.isEmpty()) {
            return;
        }
        try {
            if (settings.prefillChunkTokens() == 0) {
                engine.step(sequences(prefilling), sequences(decoding));
            } else {
                engine.step(sequences(prefilling), sequences(decoding), settings.stepPrefillTokens());
            }
        } catch (RuntimeException | Error e) {
            log.warn("Engine step failed for {} sequences: {}", prefilling.size() + decoding.size(), e.toString());
            for (List<Ticket> batch : List.of(prefilling, decoding)) {
                for (Ticket t : batch) {
                    t.failure = new EngineFailureException("The engine failed while generating: " + e.getMessage(), e);
                    t.sequence().finish(FinishReason.ERROR);
                }
            }
        }
    }

    /** The step's sample for telemetry: what the engine reported of its passes, or the scheduler's count of them. */
    private void recordStep(List<Ticket> prefilling, List<Ticket> decoding, long nanos) {
        if (prefilling.isEmpty() && decoding.isEmpty()) {
            return;
        }
        EngineStepStats stats = engine.lastStepStats();
        if (stats == EngineStepStats.UNREPORTED) {
            int tokens = decoding.size();
            for (Ticket t : prefilling) {
                tokens += Math.min(t.promptLength(), settings.stepPrefillTokens()); // what it could feed
            }
            telemetry.recordStep(nanos / 1e9, tokens, prefilling.size() + decoding.size(), 0, "unknown", "unreported");
        } else if (stats.route() != null) { // null: every sequence had ended, no pass ran
            telemetry.recordStep(nanos / 1e9, stats.tokens(), stats.sequences(), stats.kvEntriesRead(),
                    stats.route().path(), stats.route().reason());
            if (controller != null) { // the step-time model refits on what the engine reports it did
                controller.observeStep(new EngineStepSample(nanos / 1e9, stats.tokens(), stats.sequences(),
                        stats.kvEntriesRead(), stats.route().path(), stats.route().reason()));
            }
        }
    }

    private static List<Sequence> sequences(List<Ticket> tickets) {
        List<Sequence> sequences = new ArrayList<>(tickets.size());
        for (Ticket t : tickets) {
            sequences.add(t.sequence());
        }
        return sequences;
    }

    /** Streams each sequence's new text; finished ones leave, give their KV back and get their last event. */
    private void retire(long now) {
        for (var it = running.iterator(); it.hasNext(); ) {
            Ticket t = it.next();
            Sequence s = t.sequence();
            if (s.generatedCount() > 0 && t.firstTokenNanos == 0) {
                t.firstTokenNanos = now;
                lowerToPeakAfterPrefill(t, s);
                metrics.firstToken(Duration.ofNanos(now - t.submittedNanos));
                telemetry.recordFirstToken(sloClass(t), (now - t.submittedNanos) / 1e9);
            }
            if (s.generatedCount() > 0) {
                t.lastTokenNanos = now;
            }
            String text = s.takeText();
            if (!s.isFinished()) {
                if (!text.isEmpty()) {
                    t.emit(text);
                }
                continue;
            }
            if (s.finishReason() == FinishReason.ERROR && t.failure == null) { // the engine failed it without throwing
                t.failure = new EngineFailureException("The engine failed while generating this sequence", null);
            }
            Usage usage = new Usage(s.promptLength(), s.generatedCount(),
                    kvReport(t, s.kvBytes(), s.kvBytesUncompressed()),
                    t.request.inspect() ? new Usage.KvInspection(s.keptPositions(), t.decision) : null);
            release(s);
            observeKvPrediction(t, s);
            budget.release(t.predictedBytes);
            it.remove();
            inFlight.decrementAndGet();
            report(t, s.finishReason(), s.generatedCount(), now);
            if (t.failure != null) {
                t.fail(t.failure);
            } else {
                t.complete(text, s.finishReason(), usage);
            }
        }
    }

    /**
     * Once a sequence's prompt is prefilled (and compressed), its dense prompt cache and compaction copies are gone:
     * its reservation drops to the most it can still hold (KvFootprint#peakAfterPrefillBytes, exact), so what
     * compression saves is room for the next request now, not only when this one ends.
     */
    private void lowerToPeakAfterPrefill(Ticket t, Sequence s) {
        if (s.isFinished()) {
            return;
        }
        long after;
        try {
            after = budget.predict(t.spec, s.promptLength(), s.sampling().maxTokens()).peakAfterPrefillBytes();
        } catch (IllegalArgumentException e) {
            return;
        }
        if (after < t.predictedBytes) {
            budget.release(t.predictedBytes - after);
            t.predictedBytes = after;
        }
    }

    /**
     * The predictor's error on this request: the peak predicted for the tokens it generated (its reservation, when it
     * ran to {@code max_tokens}; one that stopped early reserved more than it needed, which is not an error of the
     * byte arithmetic) against the peak its cache held.
     */
    private void observeKvPrediction(Ticket t, Sequence s) {
        FinishReason reason = s.finishReason();
        if ((reason != FinishReason.STOP && reason != FinishReason.LENGTH) || s.generatedCount() < 1) {
            return;
        }
        long predicted = budget.predict(t.request.compression(), s.promptLength(), s.generatedCount()).peakBytes();
        metrics.kvBytesPredicted(predicted, s.kvPeakBytes());
    }

    private void release(Sequence s) {
        try {
            budget.free(s);
        } catch (RuntimeException e) {
            log.error("Releasing sequence {} failed", s.id(), e);
        }
    }

    private static Usage.KvReport kvReport(Ticket t, long bytes, long uncompressed) {
        KvCompressionSpec c = t.spec;
        return new Usage.KvReport(c.method(), c.ratio(), c.bits(), bytes, uncompressed, t.decidedBy,
                Double.isNaN(t.predictedQuality) ? null : t.predictedQuality);
    }

    private void report(Ticket t, FinishReason reason, int generated, long now) {
        report(t, reason.wireName(), generated, now);
    }

    /** {@code reason}: a {@link FinishReason}'s wire name, or why a request ended without one (see endAll, admit). */
    private void report(Ticket t, String reason, int generated, long now) {
        Duration tpot = generated > 1 && t.firstTokenNanos > 0
                ? Duration.ofNanos((t.lastTokenNanos - t.firstTokenNanos) / (generated - 1)) : null;
        metrics.finished(reason, generated, Duration.ofNanos(now - t.submittedNanos), tpot);
        if (tpot != null && "controller".equals(t.decidedBy)) {
            metrics.tpotPredicted(t.predictedTpotSeconds, tpot.toNanos() / 1e9);
        }
        telemetry.recordFinished(sloClass(t), tpot == null ? Double.NaN : tpot.toNanos() / 1e9, generated);
        Sequence s = t.sequence();
        if (s != null) {
            long saved = s.kvBytesUncompressed() - s.kvBytes();
            metrics.kvCompression(t.spec.method(), s.kvRatioApplied(), saved);
        }
    }

    /** Every request is {@code interactive} until requests carry a latency class (the controller's features do). */
    /** The request's latency class: the one its {@code kv_compression.auto.slo_class} names, else the default. */
    private static String sloClass(Ticket t) {
        return t.request.auto() != null && t.request.auto().sloClass() != null ? t.request.auto().sloClass()
                : Telemetry.DEFAULT_SLO_CLASS;
    }

    /** Stops taking requests; admitted and waiting ones still run to their end. */
    public synchronized void beginDrain() {
        if (state == State.READY) {
            state = State.DRAINING;
        }
    }

    /** Requests admitted or queued and not yet ended. */
    public int inFlightCount() {
        return inFlight.get();
    }

    /**
     * Waits (up to {@code timeout}) until no request is in flight.
     *
     * @return whether none is left
     */
    public boolean awaitIdle(Duration timeout) {
        long until = System.nanoTime() + timeout.toNanos();
        while (inFlight.get() > 0 && System.nanoTime() < until) {
            LockSupport.parkNanos(Duration.ofMillis(10).toNanos());
        }
        return inFlight.get() == 0;
    }

    /**
     * Any thread: at its next step the engine thread ends every queued and running request with {@code error} (their
     * clients get it as an error response or a final error event) and frees their KV; the scheduler keeps serving.
     */
    public void endInFlight(RuntimeException error) {
        endInFlightWith = error;
        LockSupport.unpark(thread);
    }

    /** Drains for at most {@code grace}, then ends what is left with an error, frees its KV and closes the engine. */
    public void close(Duration grace) {
        beginDrain();
        long until = System.nanoTime() + grace.toNanos();
        while (state == State.DRAINING && inFlight.get() > 0
                && System.nanoTime() < until) {
            LockSupport.parkNanos(Duration.ofMillis(10).toNanos());
        }
        if (state == State.DRAINING || state == State.READY) {
            state = State.STOPPED;
            LockSupport.unpark(thread);
            try {
                thread.join(Duration.ofSeconds(30).toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        } else {
            synchronized (this) {
                if (state == State.LOADING) {
                    state = State.STOPPED;
                }
            }
        }
    }

    @Override
    public void close() {
        close(Duration.ZERO);
    }

    /** Ends every queued and running request with {@code error}, releasing all KV. */
    private void endAll(RuntimeException error) {
        for (Ticket t; (t = inbox.poll()) != null; ) {
            waiting.add(t);
        }
        waitingCount.addAndGet(-waiting.size());
        String reason = error instanceof Rejection ? ENDED_BY_SHUTDOWN : FinishReason.ERROR.wireName();
        long now = nanoClock.getAsLong();
        waiting.forEach(t -> {
            report(t, reason, 0, now);
            t.fail(error);
        });
        waiting.clear();
        for (Ticket t : running) {
            release(t.sequence());
            budget.release(t.predictedBytes);
            report(t, reason, t.sequence().generatedCount(), now);
            t.fail(error);
        }
        running.clear();
        runningCount = 0;
        inFlight.set(0);
    }
}
