package io.kvpilot.policy;

import io.kvpilot.kvcache.KvCompressionSpec;
import java.util.List;

/**
 * A predictor with a known, simple shape for tests that need the controller's choices to be predictable: quality
 * falls by 0.2 per unit of ratio, by 0.01 at 8 bits and by 0.03 below.
 */
public final class StandInQualityPredictor implements QualityPredictor {

    @Override
    public void predict(RequestFeatures features, List<KvCompressionSpec> candidates, double[] out) {
        for (int i = 0; i < out.length; i++) {
            KvCompressionSpec c = candidates.get(i);
            out[i] = 1.0 - 0.2 * c.ratio() - (c.bits() == 8 ? 0.01 : c.bits() < 8 ? 0.03 : 0.0);
        }
    }

    @Override
    public String describe() {
        return "stand-in (test)";
    }
}
