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
 * @param prefillChunkTokens most prompt tokens one step feeds, all prompts together: a longer prompt is prefilled over
 *     several steps while the running sequences go on decoding between its chunks; 0 prefills every prompt whole in
 *     the step that admits it
 */
public record SchedulerSettings(
        int maxRunningSequences,
        int maxBatchedTokens,
        int maxWaiting,
        long kvBudgetBytes,
        Duration deadline,
        Duration retryAfter,
        Duration idlePoll,
        int prefillChunkTokens) {

    /**
     * {@code kvpilot.scheduler.prefill-chunk-tokens}'s default: the engine's prefill pass size, so a step holds at most
     * one prefill pass (docs/benchmarks.md, "Chunked prefill and batch invariance").
     */
    public static final int DEFAULT_PREFILL_CHUNK_TOKENS = 256;

    public SchedulerSettings {
        if (maxRunningSequences < 1 || maxBatchedTokens < 1 || maxWaiting < 0 || kvBudgetBytes < 1
                || prefillChunkTokens < 0) {
            throw new IllegalArgumentException("scheduler limits must be positive: " + maxRunningSequences + ", "
                    + maxBatchedTokens + ", " + maxWaiting + ", " + kvBudgetBytes + ", " + prefillChunkTokens);
        }
    }

    /** With prompts prefilled in chunks of {@link #DEFAULT_PREFILL_CHUNK_TOKENS}. */
    public SchedulerSettings(int maxRunningSequences, int maxBatchedTokens, int maxWaiting, long kvBudgetBytes,
            Duration deadline, Duration retryAfter, Duration idlePoll) {
        this(maxRunningSequences, maxBatchedTokens, maxWaiting, kvBudgetBytes, deadline, retryAfter, idlePoll,
                DEFAULT_PREFILL_CHUNK_TOKENS);
    }

    public SchedulerSettings withPrefillChunkTokens(int tokens) {
        return new SchedulerSettings(maxRunningSequences, maxBatchedTokens, maxWaiting, kvBudgetBytes, deadline,
                retryAfter, idlePoll, tokens);
    }

    /** Prompt tokens the engine may feed in one step. */
    int stepPrefillTokens() {
        return prefillChunkTokens == 0 ? Integer.MAX_VALUE : prefillChunkTokens;
    }
}
