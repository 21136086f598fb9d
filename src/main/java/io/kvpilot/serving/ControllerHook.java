package io.kvpilot.serving;

import io.kvpilot.engine.GenerationEngine;
import io.kvpilot.engine.KvCacheManager;
import io.kvpilot.policy.AutoCompression;
import io.kvpilot.policy.CompressionPolicy;
import io.kvpilot.policy.PolicyDecision;
import io.kvpilot.policy.Recompression;
import io.kvpilot.policy.RequestFeatures;
import io.kvpilot.policy.RunningSequenceView;
import io.kvpilot.telemetry.EngineStepSample;
import io.kvpilot.telemetry.ServingMetrics;
import io.kvpilot.telemetry.TelemetrySnapshot;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where the scheduler meets the controller, on the engine thread: the decision for an {@code auto} request at the
 * head of the queue, running sequences recompressed when the next one does not fit, and the step samples the
 * controller's step-time model learns from.
 */
public final class ControllerHook {

    private static final Logger log = LoggerFactory.getLogger(ControllerHook.class);

    private final CompressionPolicy policy;
    private final ServingMetrics metrics;
    private final double defaultMinQuality;
    private final String defaultSloClass;

    public ControllerHook(CompressionPolicy policy, ServingMetrics metrics, double defaultMinQuality,
            String defaultSloClass) {
        this.policy = policy;
        this.metrics = metrics;
        this.defaultMinQuality = defaultMinQuality;
        this.defaultSloClass = defaultSloClass;
    }

    CompressionPolicy policy() {
        return policy;
    }

    /**
     * Decides for {@code t} unless the reservations it was decided under are unchanged (a request waiting at the head
     * is decided again only when room has changed, so the decision log holds decisions, not polls).
     */
    void decide(Ticket t, long reservedNow, TelemetrySnapshot snapshot) {
        if (t.decidedAtReservedBytes == reservedNow) {
            return;
        }
        PolicyDecision d = policy.decide(features(t), snapshot);
        t.decidedAtReservedBytes = reservedNow;
        t.spec = d.spec();
        t.decidedBy = d.decidedBy();
        t.predictedQuality = d.predictedQuality();
        t.predictedBytes = d.predictedBytes();
        t.predictedTpotSeconds = d.predictedTpotSeconds();
        t.decision = d;
    }

    RequestFeatures features(Ticket t) {
        AutoCompression a = t.request.auto() == null ? AutoCompression.DEFAULT : t.request.auto();
        return new RequestFeatures(t.promptLength(), t.request.sampling().maxTokens(), a.task(),
                a.sloClass() == null ? defaultSloClass : a.sloClass(),
                a.minQuality() == null ? defaultMinQuality : a.minQuality(), null);
    }

    /**
     * Recompresses running sequences so that {@code bytesNeeded} more can be reserved; returns the reservation freed
     * (0 when the controller found no way within the sequences' floors). Reservations shrink with the caches.
     */
    long reclaim(long bytesNeeded, List<Ticket> running, KvCacheManager budget, GenerationEngine engine,
            TelemetrySnapshot snapshot) {
        List<RunningSequenceView> views = new ArrayList<>(running.size());
        for (Ticket t : running) {
            if (t.sequence() != null && !t.sequence().isFinished() && t.sequence().generatedCount() > 0) {
                views.add(new RunningSequenceView(t.id, features(t), t.sequence().generatedCount(), t.spec,
                        t.predictedBytes, "controller".equals(t.decidedBy) && t.request.auto() != null
                                && !t.request.inspect())); // an inspection reports what its setting kept
            }
        }
        long freed = 0;
        for (Recompression r : policy.reclaim(bytesNeeded, views, snapshot)) {
            Ticket t = running.stream().filter(x -> x.id.equals(r.sequenceId())).findFirst().orElse(null);
            if (t == null) {
                continue;
            }
            // the conversion holds the old layer and its copies at once: what that needs beyond the sequence's
            // reservation is reserved for the moment, or the recompression waits for a step with more room
            long transientExtra = Math.max(0, engine.recompressionPeakBytes(t.sequence(), r.spec()) - t.predictedBytes);
            if (transientExtra > 0 && !budget.tryReserve(transientExtra)) {
                continue;
            }
            try {
                engine.recompress(t.sequence(), r.spec());
            } catch (IllegalArgumentException e) {
                log.warn("Recompressing {} to {} was refused: {}", t.id, r.spec(), e.getMessage());
                continue;
            } finally {
                budget.release(transientExtra);
            }
            long lowered = t.predictedBytes - r.reservedBytes();
            budget.release(lowered);
            t.predictedBytes = r.reservedBytes();
            t.spec = r.spec();
            if (!Double.isNaN(r.predictedQuality())) {
                t.predictedQuality = r.predictedQuality();
            }
            freed += lowered;
            metrics.recompressed("pressure");
        }
        return freed;
    }

    void observeStep(EngineStepSample sample) {
        policy.observeStep(sample);
    }
}
