package io.kvpilot.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.kvpilot.kvcache.KvCompressionSpec;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** The shipped artefact: verified on load, answers as the training script does, monotone in the ratio. */
class LearnedQualityPredictorTest {

    /** The service's default artefact; the other tests run on every published version. */
    static final Path ARTEFACT = Path.of("policy-models/v2");

    @ParameterizedTest
    @ValueSource(strings = {"policy-models/v1", "policy-models/v2"})
    void reproducesTheTrainingScriptsPredictions(String artefact) throws IOException {
        LearnedQualityPredictor p = LearnedQualityPredictor.load(Path.of(artefact));
        JsonNode vectors = JsonMapper.builder().build()
                .readTree(Files.readString(Path.of(artefact).resolve("test-vectors.json")));
        double[] ratios = doubles(vectors.get("kept_mass_ratios"));
        double[] out = new double[1];
        int n = 0;
        for (JsonNode c : vectors.get("cases")) {
            KvCompressionSpec spec = new KvCompressionSpec(c.get("method").asString(), c.get("ratio").asDouble(),
                    c.get("bits").asInt());
            PrefillStatistics stats = null;
            if (c.get("head").asString().equals("prefill")) {
                Map<String, double[]> kept = c.get("kept_mass").isNull() ? Map.of()
                        : Map.of(spec.method(), doubles(c.get("kept_mass")));
                stats = new PrefillStatistics(c.get("prompt_tokens").asInt(), ratios, kept);
            }
            String hint = c.get("task_hint").isNull() ? null : c.get("task_hint").asString();
            RequestFeatures f = new RequestFeatures(c.get("prompt_tokens").asInt(), 64, hint, "interactive", 0.9,
                    stats);
            p.predict(f, List.of(spec), out);
            assertThat(out[0]).as("case %d: %s", n, c).isCloseTo(c.get("quality").asDouble(), within(1e-6));
            n++;
        }
        assertThat(n).isGreaterThanOrEqualTo(40);
    }

    @ParameterizedTest
    @ValueSource(strings = {"policy-models/v1", "policy-models/v2"})
    void qualityNeverRisesWithTheRatioAndIsOneUncompressed(String artefact) {
        LearnedQualityPredictor p = LearnedQualityPredictor.load(Path.of(artefact));
        double[] massRatios = p.keptMassRatios();
        List<KvCompressionSpec> grid = new ArrayList<>();
        for (int i = 0; i <= 98; i++) {
            grid.add(new KvCompressionSpec("keydiff", i / 100.0, 16));
        }
        double[] out = new double[grid.size()];
        for (String method : p.methods()) {
            if (method.equals("none")) {
                continue;
            }
            for (int bits : new int[] {16, 8, 4}) {
                for (String hint : new String[] {null, "retrieval", "continuation"}) {
                    for (int tokens : new int[] {100, 1000, 3000}) {
                        for (PrefillStatistics stats : new PrefillStatistics[] {null,
                            new PrefillStatistics(tokens, massRatios, Map.of(method, falling(massRatios.length)))}) {
                            List<KvCompressionSpec> specs = grid.stream()
                                    .map(s -> new KvCompressionSpec(method, s.ratio(), bits)).toList();
                            p.predict(new RequestFeatures(tokens, 64, hint, "interactive", 0.9, stats), specs, out);
                            for (int i = 0; i < out.length; i++) {
                                assertThat(out[i]).isBetween(0.0, 1.0);
                                if (i > 0) {
                                    assertThat(out[i]).as("%s %d bits at %s", method, bits, specs.get(i))
                                            .isLessThanOrEqualTo(out[i - 1]);
                                }
                            }
                        }
                    }
                }
            }
        }
        p.predict(new RequestFeatures(500, 64, null, "interactive", 0.9, null), List.of(KvCompressionSpec.NONE), out);
        assertThat(out[0]).isEqualTo(1.0);
    }

    @Test
    void settingsItWasNotTrainedOnArePredictedZero() {
        LearnedQualityPredictor p = LearnedQualityPredictor.load(ARTEFACT);
        double[] out = new double[2];
        List<KvCompressionSpec> specs = List.of(new KvCompressionSpec("tova", 0.5, 16),
                new KvCompressionSpec("keydiff", 0.5, 2));
        p.predict(new RequestFeatures(500, 64, null, "interactive", 0.9, null), specs, out);
        assertThat(out).containsExactly(0.0, 0.0);
        assertThat(p.supports(specs.get(0))).isFalse();
        assertThat(p.supports(specs.get(1))).isFalse();
        assertThat(p.supports(new KvCompressionSpec("keydiff", 0.5, 4))).isTrue();
    }

    @ParameterizedTest
    @ValueSource(strings = {"v1", "v2"})
    void describesVersionAndChecksum(String version) throws IOException {
        Path artefact = Path.of("policy-models", version);
        LearnedQualityPredictor p = LearnedQualityPredictor.load(artefact);
        String sum = Files.readString(artefact.resolve("quality-predictor.json.sha256")).split("\\s+")[0];
        assertThat(p.describe()).isEqualTo(version + " (sha256 " + sum + ")");
    }

    @Test
    void rejectsAChangedWeightsFile(@TempDir Path dir) throws IOException {
        copyArtefact(dir);
        Path w = dir.resolve(LearnedQualityPredictor.WEIGHTS);
        String text = Files.readString(w);
        Files.writeString(w, text.replace("\"version\": \"v2\"", "\"version\": \"v9\""));
        assertThat(Files.readString(w)).isNotEqualTo(text);
        assertThatThrownBy(() -> LearnedQualityPredictor.load(dir))
                .isInstanceOf(PredictorArtefactException.class)
                .hasMessageContaining("checksum mismatch");
    }

    @Test
    void rejectsAMissingChecksumOrWeightsFile(@TempDir Path dir) throws IOException {
        copyArtefact(dir);
        Files.delete(dir.resolve(LearnedQualityPredictor.WEIGHTS + ".sha256"));
        assertThatThrownBy(() -> LearnedQualityPredictor.load(dir))
                .isInstanceOf(PredictorArtefactException.class)
                .hasMessageContaining("missing").hasMessageContaining(".sha256");
        assertThatThrownBy(() -> LearnedQualityPredictor.load(dir.resolve("absent")))
                .isInstanceOf(PredictorArtefactException.class)
                .hasMessageContaining("missing").hasMessageContaining(LearnedQualityPredictor.WEIGHTS);
    }

    @Test
    void rejectsWeightsOfTheWrongShapeEvenWithAMatchingChecksum(@TempDir Path dir) throws IOException {
        copyArtefact(dir);
        Path w = dir.resolve(LearnedQualityPredictor.WEIGHTS);
        JsonNode root = JsonMapper.builder().build().readTree(Files.readString(w));
        ((tools.jackson.databind.node.ArrayNode) root.get("heads").get("prefill").get("beta")).remove(0);
        String text = root.toString();
        Files.writeString(w, text);
        Files.writeString(dir.resolve(LearnedQualityPredictor.WEIGHTS + ".sha256"),
                LearnedQualityPredictor.sha256(text.getBytes(StandardCharsets.UTF_8)) + "  quality-predictor.json\n");
        assertThatThrownBy(() -> LearnedQualityPredictor.load(dir))
                .isInstanceOf(PredictorArtefactException.class)
                .hasMessageContaining("prefill.beta");
    }

    @Test
    void rejectsTooSmallAnOutputArray() {
        LearnedQualityPredictor p = LearnedQualityPredictor.load(ARTEFACT);
        assertThatThrownBy(() -> p.predict(new RequestFeatures(10, 1, null, "interactive", 0.9, null),
                List.of(KvCompressionSpec.NONE, KvCompressionSpec.NONE), new double[1]))
                .isInstanceOf(IllegalArgumentException.class);
    }

    static void copyArtefact(Path dir) throws IOException {
        for (String f : new String[] {LearnedQualityPredictor.WEIGHTS, LearnedQualityPredictor.WEIGHTS + ".sha256"}) {
            Files.copy(ARTEFACT.resolve(f), dir.resolve(f));
        }
    }

    static double[] falling(int n) {
        double[] d = new double[n];
        for (int i = 0; i < n; i++) {
            d[i] = 0.9 - 0.2 * i;
        }
        return d;
    }

    static double[] doubles(JsonNode node) {
        double[] d = new double[node.size()];
        for (int i = 0; i < d.length; i++) {
            d[i] = node.get(i).asDouble();
        }
        return d;
    }
}
