package io.kvpilot.serving;

import io.github.resilience4j.bulkhead.Bulkhead;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import io.github.resilience4j.ratelimiter.RateLimiter;
import io.github.resilience4j.ratelimiter.RateLimiterRegistry;
import io.github.resilience4j.timelimiter.TimeLimiter;
import io.kvpilot.engine.FinishReason;
import io.kvpilot.engine.GenerationEngine;
import io.kvpilot.serving.Rejection.Reason;
import io.kvpilot.telemetry.ServingMetrics;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import reactor.core.publisher.Flux;
import reactor.core.publisher.SignalType;

/**
 * The door to the scheduler, with Resilience4j around it: a rate limiter per client, a circuit breaker that opens on
 * engine failures (fast 503 while open, trial requests when half-open), a bulkhead on concurrent sequences, and the
 * time limiter whose timeout is each request's deadline. Every refusal is counted by reason.
 */
public final class ServingGateway {

    static final String INSTANCE = "generation";
    static final String PER_CLIENT_CONFIG = "per-client";

    private final Scheduler scheduler;
    private final RateLimiterRegistry rateLimiters;
    private final CircuitBreaker circuitBreaker;
    private final Bulkhead bulkhead;
    private final TimeLimiter timeLimiter;
    private final ServingMetrics metrics;

    public ServingGateway(Scheduler scheduler, RateLimiterRegistry rateLimiters, CircuitBreaker circuitBreaker,
            Bulkhead bulkhead, TimeLimiter timeLimiter, ServingMetrics metrics) {
        this.scheduler = scheduler;
        this.rateLimiters = rateLimiters;
        this.circuitBreaker = circuitBreaker;
        this.bulkhead = bulkhead;
        this.timeLimiter = timeLimiter;
        this.metrics = metrics;
    }

    public Scheduler scheduler() {
        return scheduler;
    }

    public CircuitBreaker circuitBreaker() {
        return circuitBreaker;
    }

    /**
     * Submits {@code request} for {@code clientId} (a key fingerprint, never the key).
     *
     * @throws Rejection when refused; nothing was queued then
     */
    public Flux<GenerationEvent> generate(GenerationRequest request, String clientId) {
        try {
            return admit(request, clientId);
        } catch (Rejection r) {
            metrics.rejected(r.reason().wireName());
            throw r;
        }
    }

    /**
     * The loaded engine, for a generation request that needs it before it is submitted (to tokenize its prompt).
     *
     * @throws Rejection {@code not_ready} while the model loads or the server shuts down, counted as a rejection
     */
    public GenerationEngine readyEngine() {
        if (!scheduler.isReady()) {
            metrics.rejected(Reason.NOT_READY.wireName());
            throw new Rejection(Reason.NOT_READY, "The model is not ready yet", null);
        }
        return scheduler.engine();
    }

    private Flux<GenerationEvent> admit(GenerationRequest request, String clientId) {
        if (!scheduler.isReady()) {
            throw new Rejection(Reason.NOT_READY, "The model is not ready yet", null);
        }
        RateLimiter limiter = rateLimiters.rateLimiter("client-" + clientId, PER_CLIENT_CONFIG);
        if (!limiter.acquirePermission()) {
            throw new Rejection(Reason.RATE_LIMITED, "Rate limit reached for this API key",
                    limiter.getRateLimiterConfig().getLimitRefreshPeriod());
        }
        if (!circuitBreaker.tryAcquirePermission()) {
            long waitMillis = circuitBreaker.getCircuitBreakerConfig().getWaitIntervalFunctionInOpenState().apply(1);
            throw new Rejection(Reason.CIRCUIT_OPEN, "The engine is failing; the circuit breaker is open",
                    Duration.ofMillis(waitMillis));
        }
        if (!bulkhead.tryAcquirePermission()) {
            circuitBreaker.releasePermission();
            throw new Rejection(Reason.QUEUE_FULL, "Too many concurrent requests", scheduler.settings().retryAfter());
        }
        Flux<GenerationEvent> events;
        try {
            events = scheduler.submit(request);
        } catch (RuntimeException e) {
            bulkhead.onComplete();
            circuitBreaker.releasePermission();
            throw e;
        }
        return track(events);
    }

    /** Reports each request's outcome to the bulkhead, circuit breaker and time limiter exactly once. */
    private Flux<GenerationEvent> track(Flux<GenerationEvent> events) {
        long start = System.nanoTime();
        AtomicReference<FinishReason> finish = new AtomicReference<>();
        AtomicReference<Throwable> error = new AtomicReference<>();
        // How the events ended is taken before it reaches the subscriber: a subscriber that cancels while it handles
        // the completion (a response that ends and lets go of its body) would otherwise make a success look cancelled.
        AtomicReference<SignalType> ended = new AtomicReference<>();
        return events
                .doOnNext(e -> {
                    if (e.isLast()) {
                        finish.set(e.finishReason());
                    }
                })
                .doOnComplete(() -> ended.compareAndSet(null, SignalType.ON_COMPLETE))
                .doOnError(e -> {
                    error.set(e);
                    ended.compareAndSet(null, SignalType.ON_ERROR);
                })
                .doFinally(cause -> {
                    SignalType signal = ended.get() != null ? ended.get() : cause;
                    bulkhead.onComplete();
                    long elapsed = System.nanoTime() - start;
                    Throwable t = error.get();
                    // Only engine faults are failures; the breaker has no slow-call rule (application.yaml), so a
                    // long successful generation or a timeout caused by queueing never opens it either.
                    if (t instanceof EngineFailureException) {
                        circuitBreaker.onError(elapsed, TimeUnit.NANOSECONDS, t);
                    } else if (signal == SignalType.ON_COMPLETE && finish.get() != FinishReason.CANCELLED) {
                        circuitBreaker.onSuccess(elapsed, TimeUnit.NANOSECONDS);
                    } else {
                        circuitBreaker.releasePermission();
                    }
                    if (finish.get() == FinishReason.TIMEOUT
                            || t instanceof Rejection r && r.reason() == Reason.QUEUE_TIMEOUT) {
                        timeLimiter.onError(new TimeoutException("request deadline passed"));
                    } else if (signal == SignalType.ON_COMPLETE) {
                        timeLimiter.onSuccess();
                    }
                });
    }
}
