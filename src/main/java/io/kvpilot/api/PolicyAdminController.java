package io.kvpilot.api;

import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.policy.AdaptiveCompressionPolicy;
import io.kvpilot.policy.CandidateScore;
import io.kvpilot.policy.DecisionLog;
import io.kvpilot.policy.PolicyDecision;
import io.kvpilot.policy.RequestFeatures;
import java.time.Instant;
import java.util.List;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.web.bind.annotation.DeleteMapping;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PutMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RestController;
import tools.jackson.databind.PropertyNamingStrategies;
import tools.jackson.databind.annotation.JsonNaming;

/**
 * The controller's admin views ({@code /admin/**}, admin key): its last decisions with their inputs, candidates and
 * scores, and a pin that overrides it for every {@code auto} request until released. NaN (nothing predicted) is
 * written as null.
 */
@RestController
class PolicyAdminController {

    private final ObjectProvider<AdaptiveCompressionPolicy> policy;
    private final RequestReader reader;

    PolicyAdminController(ObjectProvider<AdaptiveCompressionPolicy> policy, RequestReader reader) {
        this.policy = policy;
        this.reader = reader;
    }

    @GetMapping("/admin/policy/decisions")
    DecisionsView decisions() {
        AdaptiveCompressionPolicy p = controller();
        List<DecisionView> decisions = p.decisions().newestFirst().stream().map(PolicyAdminController::view).toList();
        return new DecisionsView(p.predictorDescription(), spec(p.pinned()), p.decisions().capacity(), decisions);
    }

    @PutMapping(path = "/admin/policy/pin", consumes = MediaType.APPLICATION_JSON_VALUE)
    PinView pin(@RequestBody(required = false) String body) {
        AdaptiveCompressionPolicy p = controller();
        p.pin(reader.pinnedSpec(body));
        return new PinView(spec(p.pinned()));
    }

    @DeleteMapping("/admin/policy/pin")
    PinView release() {
        AdaptiveCompressionPolicy p = controller();
        p.pin(null);
        return new PinView(null);
    }

    private AdaptiveCompressionPolicy controller() {
        AdaptiveCompressionPolicy p = policy.getIfAvailable();
        if (p == null) {
            throw new ApiError(HttpStatus.NOT_FOUND, "invalid_request_error",
                    "The policy controller is disabled (kvpilot.policy.enabled=false)", null, "policy_disabled", null);
        }
        return p;
    }

    private static DecisionView view(DecisionLog.Entry e) {
        return view(e.at(), e.decision());
    }

    /** A decision as the admin views show it (also the KV inspector's, for an {@code auto} setting). */
    static DecisionView view(Instant at, PolicyDecision d) {
        RequestFeatures f = d.features();
        PolicyDecision.Inputs in = d.inputs();
        List<CandidateView> candidates = d.candidates().stream().map(PolicyAdminController::view).toList();
        return new DecisionView(at, spec(d.spec()), finite(d.predictedQuality()), d.predictedBytes(),
                finite(d.predictedTpotSeconds()), d.reason(), d.decidedBy(), d.fits(),
                new FeaturesView(f.promptTokens(), f.maxTokens(), f.taskHint(), f.sloClass(), f.minQuality(),
                        f.prefill() != null),
                new InputsView(in.kvFreeBytes(), in.kvBudgetBytes(), in.kvPressure(), in.waitingRequests(),
                        in.runningSequences(), in.pressured()),
                candidates);
    }

    private static CandidateView view(CandidateScore c) {
        return new CandidateView(spec(c.spec()), finite(c.quality()), c.bytes(), c.heldBytes(), finite(c.tpotSeconds()),
                c.verdict());
    }

    static SpecView spec(KvCompressionSpec s) {
        return s == null ? null : new SpecView(s.method(), s.ratio(), s.bits());
    }

    private static Double finite(double v) {
        return Double.isFinite(v) ? v : null;
    }

    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    record DecisionsView(String predictor, SpecView pinned, int kept, List<DecisionView> decisions) {}

    record PinView(SpecView pinned) {}

    record SpecView(String method, double ratio, int bits) {}

    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    record DecisionView(Instant at, SpecView spec, Double predictedQuality, long predictedBytes,
            Double predictedTpotSeconds, String reason, String decidedBy, boolean fits, FeaturesView request,
            InputsView server, List<CandidateView> candidates) {}

    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    record FeaturesView(int promptTokens, int maxTokens, String task, String sloClass, double minQuality,
            boolean prefillStatistics) {}

    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    record InputsView(long kvFreeBytes, long kvBudgetBytes, double kvPressure, int waitingRequests,
            int runningSequences, boolean pressured) {}

    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    record CandidateView(SpecView spec, Double quality, long bytes, long heldBytes, Double tpotSeconds,
            String verdict) {}
}
