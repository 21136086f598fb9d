package io.kvpilot.telemetry;

/**
 * One engine step as the scheduler saw it: the controller's step-time model refits on these, and the
 * {@code kvpilot_engine_step_seconds} histogram records them by {@code path}.
 *
 * @param wallSeconds wall time of the engine call
 * @param tokens tokens the step computed (prompt tokens plus one per decoding sequence)
 * @param sequences sequences in the step
 * @param kvEntriesRead cache entries the step's attention read, summed over sequences (per layer, not times layers)
 * @param path which forward pass ran: {@code java} or {@code libtorch}
 * @param pathReason why that path ran (e.g. {@code dense}, {@code quantized_store}, {@code long_prompt}, {@code no_avx2})
 */
public record EngineStepSample(
        double wallSeconds, int tokens, int sequences, long kvEntriesRead, String path, String pathReason) {

    public static final EngineStepSample NONE = new EngineStepSample(0.0, 0, 0, 0L, "none", "none");
}
