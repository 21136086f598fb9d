package io.kvpilot.policy;

import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.telemetry.EngineStepSample;
import io.kvpilot.telemetry.TelemetrySnapshot;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The controller's decision rule. For each candidate setting it predicts quality (the {@link QualityPredictor}), KV
 * bytes (the {@link KvCostModel}) and time per output token (the {@link StepTimeModel}), and picks the highest predicted
 * quality that meets the request's floor and latency objective and fits its room: all free KV bytes while there is
 * headroom; under pressure what brings the pool back under the exit level, or the fewest bytes within the floor
 * (see {@link #pick}). With headroom that is the uncompressed setting, which is what a quiet
 * server should serve. Pressure is a state with separate enter and
 * exit levels ({@link PressureState}) on the projected use — reserved bytes plus the queue served uncompressed (a
 * forecast of the burst: the queued requests taken to be like this one) — so decisions do not flap around one level.
 *
 * <p>Without a predictor (no artefact, or one that fails or answers out of range) the static fallback decides:
 * uncompressed while it fits, the configured fallback setting when it does not, {@code decided_by = default}.
 */
public final class AdaptiveCompressionPolicy implements CompressionPolicy {

    private static final Logger log = LoggerFactory.getLogger(AdaptiveCompressionPolicy.class);

    private volatile PolicySettings settings; // narrowed once to what the loaded model serves
    private final QualityPredictor predictor;
    private final KvCostModel costs;
    private final StepTimeModel stepTimes;
    private final PolicyMetrics metrics;
    private final DecisionLog decisions;
    private final PressureState pressure;
    private final AtomicLong invalidAnswers = new AtomicLong();
    private volatile KvCompressionSpec pinned;

    /** @param predictor the learned quality predictor, or null when none could be loaded (static fallback) */
    public AdaptiveCompressionPolicy(PolicySettings settings, QualityPredictor predictor, KvCostModel costs,
            StepTimeModel stepTimes, PolicyMetrics metrics) {
        this.settings = settings;
        this.predictor = predictor;
        this.costs = costs;
        this.stepTimes = stepTimes;
        this.metrics = metrics;
        this.decisions = new DecisionLog(settings.decisionsKept());
        this.pressure = new PressureState(settings.enterPressure(), settings.exitPressure());
        if (predictor == null) {
            log.warn("No quality predictor loaded: \"auto\" requests get the static fallback (uncompressed while the KV"
                    + " budget allows, else {}), decided_by \"default\"", settings.fallback());
        }
    }

    /** Pins {@code spec} for every {@code auto} request (null releases it). Any thread. */
    public void pin(KvCompressionSpec spec) {
        pinned = spec;
    }

    public KvCompressionSpec pinned() {
        return pinned;
    }

    public DecisionLog decisions() {
        return decisions;
    }

    public boolean hasPredictor() {
        return predictor != null;
    }

    public String predictorDescription() {
        return predictor == null ? "none (static fallback)" : predictor.describe();
    }

    @Override
    public PolicyDecision decide(RequestFeatures features, TelemetrySnapshot snapshot) {
        long start = System.nanoTime();
        PolicyDecision d = choose(features, snapshot);
        metrics.decided(d, System.nanoTime() - start);
        decisions.add(d);
        return d;
    }

    private PolicyDecision choose(RequestFeatures f, TelemetrySnapshot t) {
        LatencyObjective objective = settings.objective(f.sloClass());
        int burst = Math.max(1, t.waitingRequests()); // the queue the request is part of, itself included
        long uncompressed = costs.heldAfterPrefillBytes(KvCompressionSpec.NONE, f.promptTokens(), f.maxTokens());
        double projected = t.kvBudgetBytes() <= 0 ? 1.0
                : (t.kvReservedBytes() + (double) burst * uncompressed) / t.kvBudgetBytes();
        boolean pressureState = pressure.update(projected, t.oldestWaitSeconds() > objective.ttftSeconds() / 2);
        // compressing a lone request that fits helps nobody now: pressure acts only where requests contend for room
        boolean contended = burst > 1
                || costs.reservedBytes(KvCompressionSpec.NONE, f.promptTokens(), f.maxTokens()) > t.kvFreeBytes();
        boolean pressured = pressureState && contended;
        PolicyDecision.Inputs inputs = new PolicyDecision.Inputs(t.kvFreeBytes(), t.kvBudgetBytes(), t.kvPressure(),
                t.waitingRequests(), t.runningSequences(), pressured);
        KvCompressionSpec pin = pinned;
        List<KvCompressionSpec> grid = pin != null ? List.of(pin) : settings.candidates();
        double[] quality = qualities(f, grid);
        if (pin != null) {
            long bytes = costs.reservedBytes(pin, f.promptTokens(), f.maxTokens());
            return new PolicyDecision(pin, quality == null ? Double.NaN : quality[0], bytes, tpot(pin, f, t), "pinned",
                    "controller", bytes <= t.kvFreeBytes(), f, inputs, List.of());
        }
        if (settings.thresholdSpec() != null) { // the benchmark's baseline rule, not a learned choice
            KvCompressionSpec spec = t.kvPressure() >= settings.thresholdUsage() ? settings.thresholdSpec()
                    : KvCompressionSpec.NONE;
            long bytes = costs.reservedBytes(spec, f.promptTokens(), f.maxTokens());
            int i = grid.indexOf(spec);
            double q = spec.isIdentity() ? 1.0 : quality == null || i < 0 ? Double.NaN : quality[i];
            return new PolicyDecision(spec, q, bytes, tpot(spec, f, t), "threshold",
                    "controller", bytes <= t.kvFreeBytes(), f, inputs, List.of());
        }
        if (quality == null) {
            return fallback(f, t, inputs);
        }
        List<CandidateScore> scores = new ArrayList<>(grid.size());
        for (int i = 0; i < grid.size(); i++) {
            KvCompressionSpec c = grid.get(i);
            scores.add(new CandidateScore(c, quality[i], costs.reservedBytes(c, f.promptTokens(), f.maxTokens()),
                    costs.heldAfterPrefillBytes(c, f.promptTokens(), f.maxTokens()), tpot(c, f, t), ""));
        }
        return pick(scores, f, t, inputs, burst, objective.tpotSeconds(), pressured);
    }

    /**
     * Quiet: the highest quality within floor and latency that fits the free bytes. Pressured (the pressure state, and
     * requests contending for room: others waiting, or this one not fitting): the highest quality whose bytes held
     * after prefill keep the projected use under the exit level with the queue served alike
     * ({@code (exit × budget − reserved) / waiting}); when none does, the fewest bytes held within floor and latency,
     * so the pool drains back under the exit level while the burst lasts. Every candidate must fit its whole peak
     * (prefill included) in the free bytes to be admitted now. A setting within the floor always wins over one
     * below it: with none fitting, the cheapest within the floor is chosen and left to wait (or to reclaim room from
     * running sequences).
     */
    private PolicyDecision pick(List<CandidateScore> scores, RequestFeatures f, TelemetrySnapshot t,
            PolicyDecision.Inputs inputs, int burst, double tpotObjective, boolean pressured) {
        long free = t.kvFreeBytes();
        long room = pressured
                ? Math.max(0, (long) (settings.exitPressure() * t.kvBudgetBytes()) - t.kvReservedBytes()) / burst
                : free;
        List<CandidateScore> judged = new ArrayList<>(scores.size());
        for (CandidateScore s : scores) {
            String verdict = s.quality() < f.minQuality() ? "below_floor"
                    : s.tpotSeconds() > tpotObjective ? "over_latency"
                    : s.bytes() > free ? "over_budget"
                    : s.heldBytes() > room ? "over_level" : "fits";
            judged.add(s.withVerdict(verdict));
        }
        Comparator<CandidateScore> byQuality = Comparator.comparingDouble(CandidateScore::quality).reversed()
                .thenComparingLong(CandidateScore::bytes);
        Comparator<CandidateScore> byBytes = Comparator.comparingLong(CandidateScore::heldBytes)
                .thenComparing(Comparator.comparingDouble(CandidateScore::quality).reversed());
        CandidateScore chosen = best(judged, byQuality, Set.of("fits"));
        String reason = null;
        if (chosen == null) {
            chosen = best(judged, byBytes, Set.of("over_level"));
        }
        if (chosen == null) { // nothing within the objective fits: the fastest setting within floor and bytes
            chosen = judged.stream().filter(s -> s.quality() >= f.minQuality() && s.bytes() <= free)
                    .min(Comparator.comparingDouble(s -> Double.isNaN(s.tpotSeconds()) ? 0 : s.tpotSeconds()))
                    .orElse(null);
            reason = chosen == null ? null : "latency";
        }
        if (chosen == null) {
            chosen = judged.stream().filter(s -> s.quality() >= f.minQuality()).min(byBytes)
                    .orElse(judged.stream().min(byQuality).orElseThrow());
            reason = "quality_floor";
        }
        if (reason == null) {
            reason = chosen.spec().isIdentity() && !pressured ? "headroom" : "pressure";
        }
        List<CandidateScore> listed = new ArrayList<>(judged.size());
        for (CandidateScore s : judged) {
            listed.add(s == chosen ? s.withVerdict("chosen") : s);
        }
        return new PolicyDecision(chosen.spec(), chosen.quality(), chosen.bytes(), chosen.tpotSeconds(), reason,
                "controller", chosen.bytes() <= free, f, inputs, listed);
    }

    private static CandidateScore best(List<CandidateScore> judged, Comparator<CandidateScore> order,
            Set<String> verdicts) {
        CandidateScore best = null;
        for (CandidateScore s : judged) {
            if (verdicts.contains(s.verdict()) && (best == null || order.compare(s, best) < 0)) {
                best = s;
            }
        }
        return best;
    }

    /** Uncompressed while it fits, the configured fallback setting when it does not. */
    private PolicyDecision fallback(RequestFeatures f, TelemetrySnapshot t, PolicyDecision.Inputs inputs) {
        long none = costs.reservedBytes(KvCompressionSpec.NONE, f.promptTokens(), f.maxTokens());
        KvCompressionSpec spec = none <= t.kvFreeBytes() && !inputs.pressured() ? KvCompressionSpec.NONE
                : settings.fallback();
        long bytes = costs.reservedBytes(spec, f.promptTokens(), f.maxTokens());
        return new PolicyDecision(spec, Double.NaN, bytes, tpot(spec, f, t), "fallback", "default",
                bytes <= t.kvFreeBytes(), f, inputs, List.of());
    }

    /** Predicted qualities of {@code grid} (the identity setting is 1 by definition), or null to fall back. */
    private double[] qualities(RequestFeatures f, List<KvCompressionSpec> grid) {
        if (predictor == null) {
            metrics.fellBack("missing");
            return null;
        }
        double[] out = new double[grid.size()];
        try {
            predictor.predict(f, grid, out);
        } catch (RuntimeException e) {
            invalid("the predictor failed: " + e);
            return null;
        }
        for (int i = 0; i < out.length; i++) {
            if (grid.get(i).isIdentity()) {
                out[i] = 1.0;
            } else if (!(out[i] >= 0.0 && out[i] <= 1.0)) {
                invalid("the predictor answered " + out[i] + " for " + grid.get(i));
                return null;
            }
        }
        return out;
    }

    private void invalid(String why) {
        metrics.fellBack("invalid");
        long n = invalidAnswers.incrementAndGet();
        if (n == 1 || n % 1000 == 0) { // once, then now and then: a broken predictor must not flood the log
            log.warn("Static fallback for an auto request ({} so far): {}", n, why);
        }
    }

    /**
     * Predicted step time of the decode batch with this request in it: one token per sequence, and the cache entries
     * read grow by what the request keeps of its prompt. Every candidate's store (dense, int8, KIVI, evicted or not)
     * decodes on the Java pass, which reads quantized caches in place.
     */
    private double tpot(KvCompressionSpec c, RequestFeatures f, TelemetrySnapshot t) {
        int sequences = t.runningSequences() + 1;
        long entries = t.lastStep().kvEntriesRead() + (long) Math.ceil(f.promptTokens() * (1.0 - c.ratio()));
        return stepTimes.predict("java", sequences, entries, sequences);
    }

    @Override
    public PolicyDecision refine(PolicyDecision decision, PrefillStatistics statistics, TelemetrySnapshot snapshot) {
        if (predictor == null || pinned != null || !"controller".equals(decision.decidedBy())) {
            return decision;
        }
        RequestFeatures f = decision.features().withPrefill(statistics);
        List<KvCompressionSpec> within = new ArrayList<>();
        for (KvCompressionSpec c : settings.candidates()) {
            if (costs.reservedBytes(c, f.promptTokens(), f.maxTokens()) <= decision.predictedBytes()) {
                within.add(c);
            }
        }
        double[] quality = qualities(f, within);
        if (quality == null) {
            return decision;
        }
        int best = -1;
        for (int i = 0; i < within.size(); i++) {
            if (quality[i] >= f.minQuality() && (best < 0 || quality[i] > quality[best])) {
                best = i;
            }
        }
        if (best < 0 || within.get(best).equals(decision.spec())) {
            return decision;
        }
        KvCompressionSpec spec = within.get(best);
        PolicyDecision refined = new PolicyDecision(spec, quality[best],
                costs.reservedBytes(spec, f.promptTokens(), f.maxTokens()), decision.predictedTpotSeconds(), "refined",
                "controller", true, f, decision.inputs(), decision.candidates());
        metrics.decided(refined, 0);
        decisions.add(refined);
        return refined;
    }

    /**
     * Least quality lost first: each controller-chosen sequence offers its tighter reclaim settings within its floor;
     * while room is lacking, the option losing the least predicted quality among those that cover what is still
     * lacking is taken, or, when none covers it, the one freeing the most reservation per unit of quality lost, and
     * its sequence offers no more. All or nothing: when the sequences cannot free {@code bytesNeeded} within their
     * floors, nothing is recompressed.
     */
    @Override
    public List<Recompression> reclaim(long bytesNeeded, List<RunningSequenceView> running, TelemetrySnapshot t) {
        List<Option> options = new ArrayList<>();
        for (RunningSequenceView v : running) {
            if (v.controllerChosen() && pinned == null) {
                options.addAll(options(v));
            }
        }
        List<Recompression> chosen = new ArrayList<>();
        java.util.Set<String> taken = new java.util.HashSet<>();
        long lacking = bytesNeeded;
        while (lacking > 0) {
            Option best = null;
            for (Option o : options) {
                if (taken.contains(o.recompression.sequenceId())) {
                    continue;
                }
                boolean covers = o.freed >= lacking;
                boolean bestCovers = best != null && best.freed >= lacking;
                if (best == null || covers && !bestCovers
                        || covers && o.lost < best.lost
                        || !covers && !bestCovers && o.lost / o.freed < best.lost / best.freed) {
                    best = o;
                }
            }
            if (best == null) {
                return List.of();
            }
            taken.add(best.recompression.sequenceId());
            chosen.add(best.recompression);
            lacking -= best.freed;
        }
        return chosen;
    }

    /** A tighter setting for one running sequence: its new reservation, the reservation it frees, quality lost. */
    private record Option(Recompression recompression, long freed, double lost) {}

    private List<Option> options(RunningSequenceView v) {
        List<KvCompressionSpec> tighter = new ArrayList<>();
        for (KvCompressionSpec c : predictor == null ? List.of(settings.fallback()) : settings.candidates()) {
            boolean reclaimable = settings.reclaimMethods().contains(c.method()) || c.method().equals("none");
            if (reclaimable && isTighter(c, v.spec())) {
                tighter.add(c);
            }
        }
        double[] quality = predictor == null || tighter.isEmpty() ? null : qualities(v.features(), tighter);
        List<Option> out = new ArrayList<>();
        for (int i = 0; i < tighter.size(); i++) {
            KvCompressionSpec c = tighter.get(i);
            double q = quality == null ? Double.NaN : quality[i];
            if (quality != null && q < v.features().minQuality()) {
                continue;
            }
            // a running sequence past its first token is priced at what it holds from the recompression on: its
            // admission peak (the dense prompt and the compaction copy) is behind it, and pricing it again would
            // find nothing tighter than the reservation it has already dropped to
            long reserved = v.generatedTokens() > 0
                    ? costs.heldAfterRecompressionBytes(c, v.features().promptTokens(), v.generatedTokens(),
                            v.features().maxTokens())
                    : costs.reservedBytes(c, v.features().promptTokens(), v.features().maxTokens());
            long freed = v.reservedBytes() - reserved;
            if (freed > 0) {
                out.add(new Option(new Recompression(v.id(), c, reserved, q), freed, quality == null ? 0 : 1.0 - q));
            }
        }
        return out;
    }

    /** {@code c} keeps no more entries than {@code current}, at no more bits, and is not the same setting. */
    static boolean isTighter(KvCompressionSpec c, KvCompressionSpec current) {
        return c.ratio() >= current.ratio() && c.bits() <= current.bits() && !c.equals(current)
                && (current.ratio() == 0.0 || c.method().equals(current.method()) || c.ratio() > current.ratio());
    }

    @Override
    public void observeStep(EngineStepSample sample) {
        stepTimes.observe(sample);
    }

    @Override
    public void servableOn(Consumer<KvCompressionSpec> check) {
        java.util.Map<String, List<String>> byReason = new java.util.LinkedHashMap<>();
        settings = settings.servableOn(check,
                (what, why) -> byReason.computeIfAbsent(why, k -> new ArrayList<>()).add(what));
        byReason.forEach((why, what) -> log.warn("Not servable on this model ({}): {}", why, what));
    }

    /** The settings {@code auto} chooses among (those the loaded model cannot serve left out). */
    public List<KvCompressionSpec> candidates() {
        return settings.candidates();
    }

    @Override
    public KvCompressionSpec smallestCandidate() {
        KvCompressionSpec pin = pinned;
        if (pin != null) {
            return pin;
        }
        KvCompressionSpec smallest = KvCompressionSpec.NONE;
        for (KvCompressionSpec c : settings.candidates()) {
            if (c.estimateBytes(1 << 20, 64) < smallest.estimateBytes(1 << 20, 64)) {
                smallest = c;
            }
        }
        return predictor == null && settings.fallback().estimateBytes(1 << 20, 64) < smallest.estimateBytes(1 << 20, 64)
                ? settings.fallback() : smallest;
    }

    public StepTimeModel stepTimes() {
        return stepTimes;
    }
}
