package io.kvpilot.telemetry;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.TimeGauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * What the server feels right now, for the policy controller: the scheduler records each engine step, the queue and
 * KV state after each step, each request's first token and end; {@link #snapshot()} turns that into an immutable
 * {@link TelemetrySnapshot} with TTFT and TPOT quantiles per SLO class over the last 10 and 60 seconds
 * ({@link SecondWindows}). As a {@link MeterBinder} it also exports what {@link ServingMetrics} does not: step time
 * by path, steps by path and reason, tokens per step, KV reserved, the oldest wait, and the process's RSS.
 *
 * <p>Threads: one writer, the engine thread, with no lock (recording a step is a few array increments and one small
 * record). {@link #snapshot()} on that thread is computed then; on any other thread (an admin endpoint) it is the one
 * the engine thread published last, at most {@value #PUBLISH_MILLIS} ms before its last step.
 */
public final class Telemetry implements MeterBinder {

    /** The class of a request that names none. */
    public static final String DEFAULT_SLO_CLASS = "interactive";
    /** Classes kept apart; requests of further classes are counted under {@link #OTHER_CLASS}. */
    static final int MAX_CLASSES = 8;
    static final String OTHER_CLASS = "other";
    static final long PUBLISH_MILLIS = 100;
    /** {@link #recordLive}'s oldest submission time when nothing waits (a nano clock may read negative). */
    public static final long NONE_WAITING = Long.MIN_VALUE;

    private static final int TTFT = 0;
    private static final int TPOT = 1;
    private static final int REQUESTS = 0;
    private static final int TOKENS = 1;
    private static final double[] STEP_BUCKETS_SECONDS =
            {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0};

    private final LongSupplier nanoClock;
    private final ResidentMemory rss;
    private final SecondWindows steps = new SecondWindows(1, 0);
    private final Map<String, SecondWindows> classes = new HashMap<>();
    private final Map<String, StepMeters> stepMeters = new HashMap<>(); // by reason: each reason has one path
    private volatile MeterRegistry registry;
    private volatile Thread writer;
    private volatile TelemetrySnapshot published;
    private long publishedAtNanos;

    private volatile EngineStepSample lastStep = EngineStepSample.NONE;
    private volatile int running;
    private volatile int waiting;
    private volatile long oldestSubmittedNanos = NONE_WAITING;
    private volatile long kvUsedBytes;
    private volatile long kvReservedBytes;
    private volatile long kvBudgetBytes;
    private DistributionSummary stepTokens;

    private record StepMeters(Timer seconds, Counter steps) {}

    public Telemetry(LongSupplier nanoClock, ResidentMemory rss) {
        this.nanoClock = nanoClock;
        this.rss = rss;
        long now = nanoClock.getAsLong();
        this.published = new TelemetrySnapshot(now, EngineStepSample.NONE, Double.NaN, 0, 0, 0.0, 0, 0, 0, 0,
                Map.of(), Map.of());
        this.publishedAtNanos = now;
    }

    @Override
    public void bindTo(MeterRegistry meters) {
        Gauge.builder("kvpilot.kv.cache.reserved.bytes", this, t -> t.kvReservedBytes)
                .description("KV bytes admission has reserved for live sequences (their predicted peak)")
                .register(meters);
        TimeGauge.builder("kvpilot.request.queue.oldest.wait", this, TimeUnit.NANOSECONDS, Telemetry::oldestWaitNanos)
                .description("How long the oldest waiting request has waited (0 with none)").register(meters);
        Gauge.builder("process.resident.memory.bytes", rss, ResidentMemory::bytes)
                .description("Resident set size of the process (VmRSS, sampled at most once a second)")
                .baseUnit("bytes").register(meters);
        stepTokens = DistributionSummary.builder("kvpilot.engine.step.tokens")
                .description("Tokens one engine step computed (prompt tokens plus one per decoding sequence)")
                .serviceLevelObjectives(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
                .register(meters);
        registry = meters;
    }

    /** One engine call's wall time and what the engine reported of it (engine thread). */
    public void recordStep(double wallSeconds, int tokens, int sequences, long kvEntriesRead, String path,
            String pathReason) {
        claimWriter();
        EngineStepSample sample = new EngineStepSample(wallSeconds, tokens, sequences, kvEntriesRead, path, pathReason);
        lastStep = sample;
        steps.observe(second(nanoClock.getAsLong()), 0, wallSeconds);
        if (registry != null) {
            StepMeters m = stepMeters.get(pathReason);
            if (m == null) {
                m = registerStepMeters(path, pathReason);
            }
            m.seconds().record((long) (wallSeconds * 1e9), TimeUnit.NANOSECONDS);
            m.steps().increment();
            stepTokens.record(tokens);
        }
    }

    /**
     * The scheduler's state after a step (engine thread): running and waiting requests, when the oldest waiting one
     * was submitted ({@link #NONE_WAITING} with none), and KV bytes held, reserved and allowed.
     */
    public void recordLive(int runningNow, int waitingNow, long oldestSubmitted, long kvUsed, long kvReserved,
            long kvBudget) {
        claimWriter();
        running = runningNow;
        waiting = waitingNow;
        oldestSubmittedNanos = oldestSubmitted;
        kvUsedBytes = kvUsed;
        kvReservedBytes = kvReserved;
        kvBudgetBytes = kvBudget;
        long now = nanoClock.getAsLong();
        if (now - publishedAtNanos >= PUBLISH_MILLIS * 1_000_000) {
            publish(now);
        }
    }

    /** A request of {@code sloClass} got its first token {@code seconds} after submission (engine thread). */
    public void recordFirstToken(String sloClass, double seconds) {
        claimWriter();
        windows(sloClass).observe(second(nanoClock.getAsLong()), TTFT, seconds);
    }

    /**
     * A request of {@code sloClass} ended having generated {@code generated} tokens, {@code tpotSeconds} apart on
     * average (NaN with fewer than two) (engine thread).
     */
    public void recordFinished(String sloClass, double tpotSeconds, int generated) {
        claimWriter();
        long second = second(nanoClock.getAsLong());
        SecondWindows w = windows(sloClass);
        w.observe(second, TPOT, tpotSeconds);
        w.add(second, REQUESTS, 1);
        w.add(second, TOKENS, generated);
    }

    /** An immutable view: computed now on the engine thread, else the one it published last. */
    public TelemetrySnapshot snapshot() {
        if (Thread.currentThread() != writer) {
            return published;
        }
        long now = nanoClock.getAsLong();
        return publish(now);
    }

    private TelemetrySnapshot publish(long now) {
        long second = second(now);
        steps.advance(second);
        Map<String, LatencyWindow> shortWindow = new HashMap<>();
        Map<String, LatencyWindow> longWindow = new HashMap<>();
        for (Map.Entry<String, SecondWindows> e : classes.entrySet()) {
            SecondWindows w = e.getValue();
            w.advance(second);
            shortWindow.put(e.getKey(), window(w, true));
            longWindow.put(e.getKey(), window(w, false));
        }
        TelemetrySnapshot snapshot = new TelemetrySnapshot(now, lastStep, steps.quantile(true, 0, 0.5), running,
                waiting, oldestWaitNanos(now) / 1e9, kvUsedBytes, kvReservedBytes,
                kvBudgetBytes, rss.bytes(), shortWindow, longWindow);
        published = snapshot;
        publishedAtNanos = now;
        return snapshot;
    }

    private static LatencyWindow window(SecondWindows w, boolean shortWindow) {
        int seconds = shortWindow ? SecondWindows.SHORT_SECONDS : SecondWindows.LONG_SECONDS;
        return new LatencyWindow(seconds, w.total(shortWindow, REQUESTS),
                w.quantile(shortWindow, TTFT, 0.5), w.quantile(shortWindow, TTFT, 0.99),
                w.quantile(shortWindow, TPOT, 0.5), w.quantile(shortWindow, TPOT, 0.99),
                (double) w.total(shortWindow, TOKENS) / seconds);
    }

    private SecondWindows windows(String sloClass) {
        String key = sloClass == null ? DEFAULT_SLO_CLASS : sloClass;
        SecondWindows w = classes.get(key);
        if (w == null) {
            if (classes.size() >= MAX_CLASSES - 1 && !key.equals(OTHER_CLASS)) {
                key = OTHER_CLASS; // a bounded set, whatever classes requests name
                w = classes.get(key);
            }
            if (w == null) {
                w = new SecondWindows(2, 2);
                classes.put(key, w);
            }
        }
        return w;
    }

    private StepMeters registerStepMeters(String path, String reason) {
        Timer seconds = Timer.builder("kvpilot.engine.step").tag("path", path)
                .description("Wall time of one engine step, by the forward path that ran")
                .serviceLevelObjectives(durations(STEP_BUCKETS_SECONDS))
                .register(registry);
        Counter counter = Counter.builder("kvpilot.engine.steps").tags("path", path, "reason", reason)
                .description("Engine steps, by the forward path that ran and why").register(registry);
        StepMeters m = new StepMeters(seconds, counter);
        stepMeters.put(reason, m);
        return m;
    }

    private static Duration[] durations(double[] seconds) {
        Duration[] d = new Duration[seconds.length];
        for (int i = 0; i < seconds.length; i++) {
            d[i] = Duration.ofNanos((long) (seconds[i] * 1e9));
        }
        return d;
    }

    private double oldestWaitNanos() {
        return oldestWaitNanos(nanoClock.getAsLong());
    }

    private long oldestWaitNanos(long now) {
        long oldest = oldestSubmittedNanos;
        return oldest == NONE_WAITING ? 0L : Math.max(0L, now - oldest);
    }

    private void claimWriter() {
        Thread current = Thread.currentThread();
        if (writer != current) {
            writer = current;
        }
    }

    private static long second(long nanos) {
        return Math.floorDiv(nanos, 1_000_000_000L);
    }
}
