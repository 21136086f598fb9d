package io.kvpilot.serving;

import java.time.Duration;

/**
 * The scheduler's limits, resolved from {@link ServingProperties} once the budget is known.
 *
 * @param maxRunningSequences sequences decoded together in one step at most
 * @param maxBatchedTokens tokens one step may process (prefill tokens plus one per decoding sequence); a single
 *     prompt longer than this still runs, alone among the step's prefills
 * @param maxWaiting requests allowed to wait for KV room; one more is rejected with 429
 * @param kvBudgetBytes KV bytes that admitted sequences may be predicted to hold together
 * @param deadline default per-request deadline; past it a request ends with {@code finish_reason=timeout}
 * @param retryAfter what 429 answers tell clients to wait
 * @param idlePoll how long the engine thread sleeps when idle before rechecking deadlines
 */
public record SchedulerSettings(
        int maxRunningSequences,
        int maxBatchedTokens,
        int maxWaiting,
        long kvBudgetBytes,
        Duration deadline,
        Duration retryAfter,
        Duration idlePoll) {

    public SchedulerSettings {
        if (maxRunningSequences < 1 || maxBatchedTokens < 1 || maxWaiting < 0 || kvBudgetBytes < 1) {
            throw new IllegalArgumentException("scheduler limits must be positive: " + maxRunningSequences + ", "
                    + maxBatchedTokens + ", " + maxWaiting + ", " + kvBudgetBytes);
        }
    }
}
