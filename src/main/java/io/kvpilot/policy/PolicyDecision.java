package io.kvpilot.policy;

import io.kvpilot.kvcache.KvCompressionSpec;
import java.util.List;

/**
 * What the controller chose for one request, and why: the admin endpoint lists these, and the response reports
 * {@code decidedBy} and {@code predictedQuality}.
 *
 * @param spec the KV compression to apply
 * @param predictedQuality its predicted quality retention (NaN when the static fallback decided)
 * @param predictedBytes KV bytes to reserve for it
 * @param predictedTpotSeconds predicted time per output token with it admitted (NaN when unknown)
 * @param reason {@code headroom}, {@code pressure}, {@code quality_floor}, {@code latency}, {@code pinned},
 *     {@code fallback} or {@code refined}
 * @param decidedBy {@code controller}, or {@code default} for the static fallback
 * @param fits whether the reservation fits the free KV bytes of the snapshot it was made from
 * @param features what the controller knew of the request
 * @param inputs what it knew of the server
 * @param candidates every setting weighed, with its scores (empty when pinned or in fallback)
 */
public record PolicyDecision(
        KvCompressionSpec spec,
        double predictedQuality,
        long predictedBytes,
        double predictedTpotSeconds,
        String reason,
        String decidedBy,
        boolean fits,
        RequestFeatures features,
        Inputs inputs,
        List<CandidateScore> candidates) {

    public PolicyDecision {
        candidates = List.copyOf(candidates);
    }

    /**
     * @param kvFreeBytes KV bytes admission could still reserve
     * @param kvBudgetBytes the budget
     * @param kvPressure reserved over budget
     * @param waitingRequests requests queued
     * @param runningSequences sequences running
     * @param pressured whether the controller was in its pressure state (hysteresis)
     */
    public record Inputs(long kvFreeBytes, long kvBudgetBytes, double kvPressure, int waitingRequests,
            int runningSequences, boolean pressured) {}
}
