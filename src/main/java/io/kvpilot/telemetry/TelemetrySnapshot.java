package io.kvpilot.telemetry;

import java.util.Map;

/**
 * An immutable in-process view of what the server feels right now; the policy controller decides from it and never
 * scrapes Prometheus. Fields may be added; none is renamed or removed without changing every reader.
 *
 * @param takenAtNanos the scheduler clock's reading when the snapshot was taken
 * @param lastStep the most recent engine step ({@link EngineStepSample#NONE} before the first)
 * @param stepSecondsP50 median engine step wall time over the short window (NaN before the first step)
 * @param runningSequences sequences in the running batch
 * @param waitingRequests admitted requests waiting to run
 * @param oldestWaitSeconds how long the oldest waiting request has waited (0 with none)
 * @param kvUsedBytes KV bytes held by live sequences now, measured
 * @param kvReservedBytes KV bytes reserved by admission for live sequences (their predicted peak)
 * @param kvBudgetBytes KV bytes admission may plan with
 * @param rssBytes resident set size of the process (0 where unknown)
 * @param shortWindow latency per SLO class over the short window (e.g. 10 s)
 * @param longWindow latency per SLO class over the long window (e.g. 60 s)
 */
public record TelemetrySnapshot(
        long takenAtNanos,
        EngineStepSample lastStep,
        double stepSecondsP50,
        int runningSequences,
        int waitingRequests,
        double oldestWaitSeconds,
        long kvUsedBytes,
        long kvReservedBytes,
        long kvBudgetBytes,
        long rssBytes,
        Map<String, LatencyWindow> shortWindow,
        Map<String, LatencyWindow> longWindow) {

    public TelemetrySnapshot {
        shortWindow = Map.copyOf(shortWindow);
        longWindow = Map.copyOf(longWindow);
    }

    /** Bytes admission can still reserve. */
    public long kvFreeBytes() {
        return Math.max(0L, kvBudgetBytes - kvReservedBytes);
    }

    /** Reserved over budget, 0-1. */
    public double kvPressure() {
        return kvBudgetBytes > 0 ? Math.min(1.0, (double) kvReservedBytes / kvBudgetBytes) : 0.0;
    }
}
