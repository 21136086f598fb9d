package io.kvpilot.policy;

import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.telemetry.EngineStepSample;
import io.kvpilot.telemetry.TelemetrySnapshot;
import java.util.List;
import java.util.function.Consumer;

/**
 * The adaptive controller as the scheduler calls it, on its engine thread (never a request thread):
 *
 * <ol>
 *   <li>{@link #decide} at admission, where the live state is known;
 *   <li>{@link #refine} once the prompt is prefilled, with its statistics: may change the setting within the
 *       reservation;
 *   <li>{@link #reclaim} when the next request cannot fit: running sequences to compress further, so that requests
 *       are compressed before any is queued or refused;
 *   <li>{@link #observeStep} after every engine step, to keep the step-time model current.
 * </ol>
 */
public interface CompressionPolicy {

    PolicyDecision decide(RequestFeatures features, TelemetrySnapshot snapshot);

    PolicyDecision refine(PolicyDecision decision, PrefillStatistics statistics, TelemetrySnapshot snapshot);

    /**
     * Running sequences to recompress so that {@code bytesNeeded} more bytes can be reserved; empty when that much
     * cannot be freed within their quality floors (recompressing then would lose quality for nothing).
     */
    List<Recompression> reclaim(long bytesNeeded, List<RunningSequenceView> running, TelemetrySnapshot snapshot);

    void observeStep(EngineStepSample sample);

    /** The setting with the fewest bytes any {@code auto} request could get (for the too-large-ever check). */
    KvCompressionSpec smallestCandidate();

    /**
     * Called once the model is loaded, with its check of a setting ({@code check} throws
     * {@link IllegalArgumentException} for one it cannot serve): such settings are no longer chosen, so that
     * {@code auto} never picks what admission refuses for an explicit request.
     */
    default void servableOn(Consumer<KvCompressionSpec> check) {}
}
