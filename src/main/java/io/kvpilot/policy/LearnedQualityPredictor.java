package io.kvpilot.policy;

import io.kvpilot.kvcache.KvCompressionSpec;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The learned quality predictor of {@code policy-models/<version>/} (its MODEL_CARD.md describes the model, data and
 * validation), trained by {@code training/policy/train_predictor.py}. Quality {@code q = exp(-H)}: {@code H} sums
 * non-negative hazards, one per ratio segment the candidate's ratio covers and one for quantization, so predicted
 * quality never rises with the ratio and is exactly 1 for an uncompressed cache.
 *
 * <p>Two heads share that form: the prefill head reads the method's kept score mass ({@link PrefillStatistics}) when
 * the request has it for the candidate's method; the admission head does without. Candidates it was not trained on
 * (another method, 2 bits) are predicted 0 — never chosen; {@link #supports} tells them apart. Immutable, thread-safe,
 * and {@link #predict} allocates nothing.
 */
public final class LearnedQualityPredictor implements QualityPredictor {

    /** Weights file of an artefact directory; its SHA-256 is in the same name plus {@code .sha256}. */
    public static final String WEIGHTS = "quality-predictor.json";

    private static final Logger log = LoggerFactory.getLogger(LearnedQualityPredictor.class);

    private final PredictorWeights w;
    private final String sha256;

    LearnedQualityPredictor(PredictorWeights weights, String sha256) {
        this.w = weights;
        this.sha256 = sha256;
    }

    /**
     * Loads and verifies the artefact in {@code dir} and logs its version and checksum.
     *
     * @throws PredictorArtefactException when a file is missing or unreadable, the checksum differs, or the weights
     *     do not have the shape this class reads
     */
    public static LearnedQualityPredictor load(Path dir) {
        Path weights = dir.resolve(WEIGHTS);
        Path sum = dir.resolve(WEIGHTS + ".sha256");
        try {
            return verified(Files.readAllBytes(weights), Files.readString(sum, StandardCharsets.UTF_8),
                    weights.toString());
        } catch (NoSuchFileException e) {
            throw new PredictorArtefactException("predictor artefact file missing: " + e.getFile(), e);
        } catch (IOException e) {
            throw new PredictorArtefactException("cannot read predictor artefact in " + dir + ": " + e, e);
        }
    }

    /** As {@link #load}, from a classpath folder such as {@code policy-models/v1} (an artefact packed in the jar). */
    public static LearnedQualityPredictor loadResource(ClassLoader loader, String folder) {
        String weights = folder + "/" + WEIGHTS;
        try (InputStream in = loader.getResourceAsStream(weights);
                InputStream s = loader.getResourceAsStream(weights + ".sha256")) {
            if (in == null || s == null) {
                throw new PredictorArtefactException("predictor artefact not on the classpath: " + weights
                        + (in == null ? "" : ".sha256"));
            }
            return verified(in.readAllBytes(), new String(s.readAllBytes(), StandardCharsets.UTF_8),
                    "classpath:" + weights);
        } catch (IOException e) {
            throw new PredictorArtefactException("cannot read predictor artefact classpath:" + weights + ": " + e, e);
        }
    }

    private static LearnedQualityPredictor verified(byte[] weights, String sumFile, String source) {
        String expected = sumFile.strip().split("\\s+")[0].toLowerCase(Locale.ROOT);
        String actual = sha256(weights);
        if (!actual.equals(expected)) {
            throw new PredictorArtefactException("checksum mismatch for " + source + ": sha256 " + actual
                    + ", expected " + expected);
        }
        PredictorWeights parsed = PredictorWeights.parse(new String(weights, StandardCharsets.UTF_8), source);
        LearnedQualityPredictor p = new LearnedQualityPredictor(parsed, actual);
        log.info("Quality predictor {} loaded from {} (sha256 {})", parsed.version(), source, actual);
        return p;
    }

    static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every JRE", e);
        }
    }

    @Override
    public String describe() {
        return w.version() + " (sha256 " + sha256 + ")";
    }

    public String version() {
        return w.version();
    }

    public String sha256() {
        return sha256;
    }

    /** Method names the model was trained on. */
    public List<String> methods() {
        return List.of(w.methods());
    }

    /** The ratios at which it reads kept score mass: what {@link PrefillStatisticsProbe} should compute. */
    public double[] keptMassRatios() {
        return w.keptMassRatios().clone();
    }

    /** Whether {@code spec} is a setting the model was trained on (others are predicted 0). */
    public boolean supports(KvCompressionSpec spec) {
        return w.methodIndex(spec.method()) >= 0 && w.bitsIndex(spec.bits()) >= -1;
    }

    @Override
    public void predict(RequestFeatures features, List<KvCompressionSpec> candidates, double[] out) {
        if (out.length < candidates.size()) {
            throw new IllegalArgumentException("out holds " + out.length + " values for " + candidates.size()
                    + " candidates");
        }
        int task = w.taskIndex(features.taskHint());
        double lx = Math.log(Math.max(1, features.promptTokens()) / w.lengthReference()) / Math.log(2.0);
        PrefillStatistics prefill = features.prefill();
        for (int i = 0; i < candidates.size(); i++) {
            out[i] = quality(candidates.get(i), task, lx, prefill);
        }
    }

    private double quality(KvCompressionSpec spec, int task, double lx, PrefillStatistics prefill) {
        int method = w.methodIndex(spec.method());
        int bits = w.bitsIndex(spec.bits());
        if (method < 0 || bits < -1) {
            return 0.0;
        }
        double[] masses = null;
        if (prefill != null && method != w.noneIndex()) {
            masses = prefill.keptMass().get(spec.method());
            if (masses != null && masses.length != prefill.ratios().length) {
                masses = null; // malformed statistics: estimate as at admission
            }
        }
        boolean usePrefill = prefill != null && (masses != null || method == w.noneIndex());
        double h = w.segmentHazard(usePrefill, method, task, lx, spec.ratio(),
                usePrefill ? prefill.ratios() : null, masses);
        if (bits >= 0) {
            h += w.quantHazard(usePrefill, bits, method, task, lx);
        }
        return Math.exp(-h);
    }
}
