package io.kvpilot.policy;

import io.kvpilot.kvcache.KvCompressionSpec;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * One controller decision's worth of prediction: the shipped predictor scoring a candidate set of 40 settings (the
 * trained methods at 4 ratios and 2-3 bit widths), at admission (no prefill statistics) and after prefill. Sample mode
 * so JMH reports percentiles per call; the target is p99 at most 50 µs.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class QualityPredictorBenchmark {

    @Param({"admission", "prefill"})
    public String stage;

    private LearnedQualityPredictor predictor;
    private RequestFeatures features;
    private List<KvCompressionSpec> candidates;
    private double[] out;

    @Setup
    public void load() {
        predictor = LearnedQualityPredictor.load(Path.of(System.getProperty("kvpilot.policy.model", "policy-models/v2")));
        candidates = new ArrayList<>();
        candidates.add(KvCompressionSpec.NONE);
        candidates.add(new KvCompressionSpec("none", 0, 8));
        candidates.add(new KvCompressionSpec("none", 0, 4));
        candidates.add(new KvCompressionSpec("knorm", 0.5, 16));
        for (String m : new String[] {"keydiff", "snapkv", "streaming_llm", "adakv_keydiff"}) {
            for (double r : new double[] {0.25, 0.5, 0.75, 0.9}) {
                for (int bits : new int[] {16, 8, 4}) {
                    if (candidates.size() < 40 && !(bits == 8 && m.startsWith("adakv"))) {
                        candidates.add(new KvCompressionSpec(m, r, bits));
                    }
                }
            }
        }
        if (candidates.size() != 40) {
            throw new IllegalStateException("expected 40 candidates, built " + candidates.size());
        }
        out = new double[candidates.size()];
        double[] ratios = predictor.keptMassRatios();
        PrefillStatistics stats = stage.equals("prefill") ? new PrefillStatistics(1500, ratios, Map.of(
                "keydiff", new double[] {0.9, 0.7, 0.45, 0.22}, "snapkv", new double[] {0.97, 0.9, 0.76, 0.5},
                "streaming_llm", new double[] {0.94, 0.75, 0.43, 0.18}, "knorm", new double[] {0.87, 0.65, 0.36, 0.16},
                "adakv_keydiff", new double[] {0.9, 0.7, 0.44, 0.21})) : null;
        features = new RequestFeatures(1500, 128, "retrieval", "interactive", 0.95, stats);
    }

    @Benchmark
    public void predictCandidateSet(Blackhole bh) {
        predictor.predict(features, candidates, out);
        bh.consume(out);
    }
}
