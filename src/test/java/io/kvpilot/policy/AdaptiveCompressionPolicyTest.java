package io.kvpilot.policy;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.telemetry.EngineStepSample;
import io.kvpilot.telemetry.TelemetrySnapshot;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The decision rule with a fake predictor (quality falls linearly with ratio, a little with bits) and fake telemetry. */
class AdaptiveCompressionPolicyTest {

    static final long BYTES_PER_TOKEN = 1000;
    static final KvCompressionSpec KD25 = new KvCompressionSpec("keydiff", 0.25, 16);
    static final KvCompressionSpec KD50 = new KvCompressionSpec("keydiff", 0.5, 16);
    static final KvCompressionSpec KD75 = new KvCompressionSpec("keydiff", 0.75, 16);
    static final KvCompressionSpec KD25_8 = new KvCompressionSpec("keydiff", 0.25, 8);
    static final KvCompressionSpec SNAP50 = new KvCompressionSpec("snapkv", 0.5, 16);
    static final List<KvCompressionSpec> GRID = List.of(KvCompressionSpec.NONE, KD25, KD50, KD75, KD25_8, SNAP50);

    /** 1 − 0.2·ratio (snapkv 0.12·ratio), −0.005 at 8 bits. */
    static final class FakePredictor implements QualityPredictor {
        int calls;
        RuntimeException failure;
        double answer = Double.NaN;

        @Override
        public void predict(RequestFeatures features, List<KvCompressionSpec> candidates, double[] out) {
            calls++;
            if (failure != null) {
                throw failure;
            }
            for (int i = 0; i < candidates.size(); i++) {
                KvCompressionSpec c = candidates.get(i);
                // a prompt whose prefill statistics show concentrated attention loses little to snapkv
                double perRatio = !c.method().equals("snapkv") ? 0.2 : features.prefill() != null ? 0.02 : 0.12;
                out[i] = Double.isNaN(answer) ? 1.0 - perRatio * c.ratio() - (c.bits() == 8 ? 0.005 : 0.0) : answer;
            }
        }

        @Override
        public String describe() {
            return "fake";
        }
    }

    final FakePredictor predictor = new FakePredictor();
    final SimpleMeterRegistry registry = new SimpleMeterRegistry();

    AdaptiveCompressionPolicy policy(QualityPredictor p) {
        PolicySettings settings = new PolicySettings(GRID, 0.9, 0.8, 0.6,
                Map.of("interactive", new LatencyObjective(3.0, 0.25), "batch", new LatencyObjective(30, 1.0)),
                "interactive", Set.of("keydiff", "streaming_llm"), KD50, 16);
        return new AdaptiveCompressionPolicy(settings, p, new EstimateKvCostModel(() -> BYTES_PER_TOKEN),
                new StepTimeModel(0.99, 20), new PolicyMetrics(registry));
    }

    static TelemetrySnapshot snapshot(long reserved, long budget, int waiting, int running) {
        return new TelemetrySnapshot(0L, EngineStepSample.NONE, Double.NaN, running, waiting, 0.0, reserved, reserved,
                budget, 0L, Map.of(), Map.of());
    }

    /** 100 prompt + 100 generated tokens: 200,000 bytes uncompressed. */
    static RequestFeatures request(double minQuality) {
        return new RequestFeatures(100, 100, null, "interactive", minQuality, null);
    }

    @Test
    void withHeadroomRequestsStayUncompressed() {
        AdaptiveCompressionPolicy policy = policy(predictor);
        for (int i = 0; i < 100; i++) {
            PolicyDecision d = policy.decide(request(0.9), snapshot(i * 1000L, 10_000_000, 1, 1));
            assertThat(d.spec()).isEqualTo(KvCompressionSpec.NONE);
            assertThat(d.reason()).isEqualTo("headroom");
            assertThat(d.decidedBy()).isEqualTo("controller");
            assertThat(d.predictedQuality()).isEqualTo(1.0);
            assertThat(d.predictedBytes()).isEqualTo(200_000);
            assertThat(d.fits()).isTrue();
        }
        assertThat(registry.get("kvpilot.policy.decisions").tags("method", "none", "bits", "16", "reason", "headroom")
                .counter().count()).isEqualTo(100);
        assertThat(registry.get("kvpilot.policy.predicted.quality").summary().count()).isEqualTo(100);
    }

    @Test
    void underPressureTheHighestPredictedQualityThatBringsUseUnderTheExitLevelIsChosen() {
        AdaptiveCompressionPolicy policy = policy(predictor);
        policy.decide(request(0.9), snapshot(850_000, 1_000_000, 1, 4)); // enters the pressure state
        // 300,000 reserved, two waiting: 150,000 each under the exit level (600,000); none (200,000) would exceed it,
        // keydiff 0.25 (150,000, 0.95) is the best that does not (snapkv 0.5: 100,000, 0.94)
        PolicyDecision d = policy.decide(request(0.9), snapshot(300_000, 1_000_000, 2, 4));
        assertThat(d.inputs().pressured()).isTrue();
        assertThat(d.spec()).isEqualTo(KD25);
        assertThat(d.reason()).isEqualTo("pressure");
        assertThat(d.predictedQuality()).isEqualTo(0.95);
        assertThat(d.fits()).isTrue();
        assertThat(d.candidates()).hasSize(GRID.size()).filteredOn(c -> c.verdict().equals("chosen")).hasSize(1);
        assertThat(d.candidates()).filteredOn(c -> c.spec().equals(KvCompressionSpec.NONE))
                .extracting(CandidateScore::verdict).containsExactly("over_level");
        assertThat(d.candidates()).filteredOn(c -> c.spec().equals(KD75))
                .extracting(CandidateScore::verdict).containsExactly("below_floor");
    }

    @Test
    void aLoneRequestThatFitsIsLeftUncompressedEvenInThePressureState() {
        AdaptiveCompressionPolicy policy = policy(predictor);
        policy.decide(request(0.9), snapshot(850_000, 1_000_000, 2, 4)); // enters the pressure state
        // still over the exit level, but nobody else waits and none (200,000) fits the 300,000 free bytes
        PolicyDecision d = policy.decide(request(0.9), snapshot(700_000, 1_000_000, 1, 4));
        assertThat(d.spec()).isEqualTo(KvCompressionSpec.NONE);
        assertThat(d.reason()).isEqualTo("headroom");
        assertThat(d.inputs().pressured()).isFalse();
        // the same reading with a second request waiting: compressed
        PolicyDecision contended = policy.decide(request(0.9), snapshot(700_000, 1_000_000, 2, 4));
        assertThat(contended.spec().isIdentity()).isFalse();
        assertThat(contended.reason()).isEqualTo("pressure");
    }

    @Test
    void aBurstGetsTheFewestBytesWithinTheFloor() {
        AdaptiveCompressionPolicy policy = policy(predictor);
        // 4 waiting uncompressed would take 800,000 more: nothing keeps use under the exit level, so each gets the
        // cheapest setting within the floor (0.9): keydiff 0.25 at 8 bits, 86,250 bytes (keydiff 0.75 is below it)
        PolicyDecision d = policy.decide(request(0.9), snapshot(600_000, 1_000_000, 4, 4));
        assertThat(d.spec()).isEqualTo(KD25_8);
        assertThat(d.predictedBytes()).isEqualTo(86_250);
        assertThat(d.reason()).isEqualTo("pressure");
    }

    @Test
    void theQualityFloorIsRespectedEvenIfTheRequestMustWait() {
        AdaptiveCompressionPolicy policy = policy(predictor);
        // floor 0.96: none (1.0) is the one setting within it, and it does not fit the 160,000 free bytes
        PolicyDecision d = policy.decide(request(0.96), snapshot(840_000, 1_000_000, 1, 4));
        assertThat(d.spec()).isEqualTo(KvCompressionSpec.NONE);
        assertThat(d.reason()).isEqualTo("quality_floor");
        assertThat(d.fits()).isFalse();
        // floor 0.94: the cheapest within it that fits 160,000 free bytes is keydiff 0.25 at 8 bits (0.945)
        PolicyDecision lower = policy.decide(request(0.94), snapshot(840_000, 1_000_000, 1, 4));
        assertThat(lower.spec()).isEqualTo(KD25_8);
        assertThat(lower.fits()).isTrue();
    }

    @Test
    void hysteresisKeepsDecisionsFromFlappingAroundTheEnterLevel() {
        AdaptiveCompressionPolicy policy = policy(predictor);
        // use hovering around the enter level (0.8) with two waiting: 0.38 + 2 x 0.2 projected = 0.78, then 0.42 + 0.4
        // = 0.82, and so on
        List<KvCompressionSpec> chosen = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            long reserved = i % 2 == 0 ? 380_000 : 420_000;
            chosen.add(policy.decide(request(0.9), snapshot(reserved, 1_000_000, 2, 4)).spec());
        }
        int changes = 0;
        for (int i = 1; i < chosen.size(); i++) {
            changes += chosen.get(i).equals(chosen.get(i - 1)) ? 0 : 1;
        }
        assertThat(chosen.get(0)).isEqualTo(KvCompressionSpec.NONE);
        assertThat(chosen.get(chosen.size() - 1).isIdentity()).isFalse();
        assertThat(changes).as("decisions %s", chosen).isEqualTo(1);
        // and it leaves the pressure state once use is back under the exit level
        PolicyDecision quiet = policy.decide(request(0.9), snapshot(300_000, 1_000_000, 1, 2));
        assertThat(quiet.spec()).isEqualTo(KvCompressionSpec.NONE);
        assertThat(quiet.reason()).isEqualTo("headroom");
    }

    @Test
    void aFailingPredictorFallsBackToTheStaticRule() {
        predictor.failure = new IllegalStateException("broken weights");
        AdaptiveCompressionPolicy policy = policy(predictor);
        PolicyDecision quiet = policy.decide(request(0.9), snapshot(0, 1_000_000, 1, 0));
        assertThat(quiet.spec()).isEqualTo(KvCompressionSpec.NONE);
        assertThat(quiet.decidedBy()).isEqualTo("default");
        assertThat(quiet.reason()).isEqualTo("fallback");
        assertThat(quiet.predictedQuality()).isNaN();
        PolicyDecision pressed = policy.decide(request(0.9), snapshot(850_000, 1_000_000, 1, 4));
        assertThat(pressed.spec()).isEqualTo(KD50);
        assertThat(registry.get("kvpilot.policy.fallbacks").tag("reason", "invalid").counter().count()).isEqualTo(2);
    }

    @Test
    void anAnswerOutOfRangeIsInvalid() {
        predictor.answer = 1.7;
        PolicyDecision d = policy(predictor).decide(request(0.9), snapshot(0, 1_000_000, 1, 0));
        assertThat(d.decidedBy()).isEqualTo("default");
        assertThat(registry.get("kvpilot.policy.fallbacks").tag("reason", "invalid").counter().count()).isEqualTo(1);
    }

    @Test
    void aMissingPredictorFallsBackAndSaysSo() {
        AdaptiveCompressionPolicy policy = policy(null);
        PolicyDecision d = policy.decide(request(0.9), snapshot(0, 1_000_000, 1, 0));
        assertThat(d.decidedBy()).isEqualTo("default");
        assertThat(d.spec()).isEqualTo(KvCompressionSpec.NONE);
        assertThat(policy.hasPredictor()).isFalse();
        assertThat(registry.get("kvpilot.policy.fallbacks").tag("reason", "missing").counter().count()).isEqualTo(1);
    }

    @Test
    void aPinAppliesToEveryAutoRequestUntilReleased() {
        AdaptiveCompressionPolicy policy = policy(predictor);
        policy.pin(KD75);
        PolicyDecision pinned = policy.decide(request(0.99), snapshot(0, 1_000_000, 1, 0));
        assertThat(pinned.spec()).isEqualTo(KD75);
        assertThat(pinned.reason()).isEqualTo("pinned");
        assertThat(pinned.decidedBy()).isEqualTo("controller");
        assertThat(pinned.predictedQuality()).isEqualTo(0.85);
        assertThat(pinned.predictedBytes()).isEqualTo(50_000);
        policy.pin(null);
        assertThat(policy.decide(request(0.99), snapshot(0, 1_000_000, 1, 0)).spec())
                .isEqualTo(KvCompressionSpec.NONE);
    }

    @Test
    void theDecisionLogKeepsTheLastDecisionsOnly() {
        AdaptiveCompressionPolicy policy = policy(predictor);
        for (int i = 0; i < 40; i++) {
            policy.decide(new RequestFeatures(10 + i, 10, null, "interactive", 0.9, null), snapshot(0, 1_000_000, 1, 0));
        }
        List<DecisionLog.Entry> entries = policy.decisions().newestFirst();
        assertThat(entries).hasSize(16);
        assertThat(entries.get(0).decision().features().promptTokens()).isEqualTo(49);
        assertThat(entries.get(15).decision().features().promptTokens()).isEqualTo(34);
    }

    @Test
    void aSlowSettingIsAvoidedWhenAnotherMeetsTheObjective() {
        AdaptiveCompressionPolicy policy = policy(predictor);
        // the Java pass: 0.2 s per step plus 1e-5 s per cached entry read; 100 running entries + the prompt
        for (int i = 0; i < 300; i++) {
            long entries = 3000 + (i * 37) % 4000;
            int sequences = 1 + i % 8;
            policy.observeStep(new EngineStepSample(0.2 + 1e-5 * entries, sequences, sequences, entries, "java", "t"));
            policy.observeStep(new EngineStepSample(0.5, sequences, sequences, entries, "libtorch", "quantized_store"));
        }
        TelemetrySnapshot busy = new TelemetrySnapshot(0L, new EngineStepSample(0.3, 4, 4, 4_960L, "java", "t"),
                0.3, 4, 1, 0, 0, 0, 10_000_000, 0, Map.of(), Map.of());
        // none reads 4,960 + 100 entries → 0.2506 s > 0.25; keydiff 0.5 reads 5,010 → 0.2501 s; keydiff 0.75 → 0.24985;
        // 8-bit stores decode on the Java pass too and read as many entries as their ratio keeps
        PolicyDecision d = policy.decide(new RequestFeatures(100, 100, null, "interactive", 0.8, null), busy);
        assertThat(d.spec()).isEqualTo(KD75);
        assertThat(d.predictedTpotSeconds()).isLessThanOrEqualTo(0.25);
        assertThat(d.candidates()).filteredOn(c -> c.spec().isIdentity()).extracting(CandidateScore::verdict)
                .containsExactly("over_latency");
    }

    @Test
    void reclaimRecompressesControllerChosenSequencesWithinTheirFloors() {
        AdaptiveCompressionPolicy policy = policy(predictor);
        RequestFeatures f = request(0.9);
        List<RunningSequenceView> running = List.of(
                new RunningSequenceView("a", f, 10, KvCompressionSpec.NONE, 200_000, true),
                new RunningSequenceView("fixed", f, 10, KvCompressionSpec.NONE, 200_000, false),
                new RunningSequenceView("b", request(0.97), 10, KvCompressionSpec.NONE, 200_000, true));
        List<Recompression> r = policy.reclaim(40_000, running, snapshot(600_000, 600_000, 1, 3));
        // "fixed" was the request's own choice; "b"'s floor (0.97) admits no keydiff setting of the grid
        assertThat(r).extracting(Recompression::sequenceId).containsExactly("a");
        assertThat(r.get(0).spec()).as("the least quality lost that covers 40,000 bytes").isEqualTo(KD25);
        assertThat(r.get(0).predictedQuality()).isGreaterThanOrEqualTo(0.9);
        assertThat(200_000 - r.get(0).reservedBytes()).isGreaterThanOrEqualTo(40_000);
        // more than can be freed within the floors: nothing is recompressed for nothing
        assertThat(policy.reclaim(1_000_000, running, snapshot(600_000, 600_000, 1, 3))).isEmpty();
    }

    @Test
    void refineReRanksWithinTheReservationOnceThePrefillIsKnown() {
        AdaptiveCompressionPolicy policy = policy(predictor);
        policy.decide(request(0.9), snapshot(850_000, 1_000_000, 1, 4));
        PolicyDecision admitted = policy.decide(request(0.9), snapshot(300_000, 1_000_000, 2, 4));
        assertThat(admitted.spec()).isEqualTo(KD25); // 150,000 bytes reserved
        PrefillStatistics statistics = new PrefillStatistics(100, new double[] {0.5},
                Map.of("snapkv", new double[] {0.98}));

        PolicyDecision refined = policy.refine(admitted, statistics, snapshot(570_000, 1_000_000, 0, 5));

        assertThat(refined.spec()).isEqualTo(SNAP50); // 0.99 now, and 100,000 bytes: within the reservation
        assertThat(refined.reason()).isEqualTo("refined");
        assertThat(refined.predictedBytes()).isLessThanOrEqualTo(admitted.predictedBytes());
        assertThat(refined.features().prefill()).isSameAs(statistics);
        assertThat(policy.decisions().newestFirst().get(0).decision()).isSameAs(refined);
        // a setting the static fallback chose is left alone
        PolicyDecision fallback = policy(null).decide(request(0.9), snapshot(0, 1_000_000, 1, 0));
        assertThat(policy.refine(fallback, statistics, snapshot(0, 1_000_000, 0, 1))).isSameAs(fallback);
    }
}
