package io.kvpilot.eval;

import io.kvpilot.engine.EngineOptions;
import io.kvpilot.engine.TextCodec;
import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.kvcache.press.KeptMass;
import io.kvpilot.kvcache.press.KvMethods;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The quality predictor's training data measured with the trace-replay benchmark's own definition of quality
 * (bench/trace_replay.py), on the prompts of a trace: for every request of the trace and every candidate setting of
 * the controller's grid, the request is run as the service runs it (greedy, its max_tokens, EOS ignored for
 * continuations) and scored against the same request uncompressed: retrieval 1 when the answer's leading number is the
 * key, else 0; continuation the longest common subsequence of the two outputs' words over the uncompressed output's
 * length. The evaluation's per-token likelihood (teacher forced) says how much of the text's probability a setting
 * keeps; this says how much of what the user would have read survives, which is what the trace scores.
 *
 * <pre>
 * java -cp ... io.kvpilot.eval.TraceQualityDataset --model models/kvpilot-mini --trace trace.json [--per-kind N] --out DIR
 * </pre>
 * writes {@code DIR/trace_quality.csv}, the columns of {@link PredictorDataset}'s file plus {@code quality}.
 * {@code bench/trace_quality_data.sh} holds the published data set's flags. Each request is prefilled once for all
 * settings ({@link CellRunner}: the prompt but its last token, which is then fed after compression).
 */
public final class TraceQualityDataset {

    static final String FILE = "trace_quality.csv";
    static final double[] MASS_RATIOS = {0.25, 0.5, 0.75, 0.9};

    private TraceQualityDataset() {}

    public static void main(String[] args) throws IOException {
        Map<String, String> a = flags(args);
        Path model = Path.of(a.getOrDefault("model", "models/kvpilot-mini"));
        Path trace = Path.of(require(a, "trace"));
        Path out = Path.of(require(a, "out"));
        int limit = Integer.parseInt(a.getOrDefault("limit", "0"));
        int perKind = Integer.parseInt(a.getOrDefault("per-kind", "0"));
        List<KvCompressionSpec> specs = grid(a.getOrDefault("methods", "keydiff,snapkv,streaming_llm"),
                a.getOrDefault("ratios", "0.25,0.5,0.75"), a.getOrDefault("bits", "16,8,4"),
                a.getOrDefault("quantization-only-bits", "8,4"));
        List<JsonNode> items = new ArrayList<>();
        Map<String, Integer> taken = new LinkedHashMap<>();
        for (JsonNode item : JsonMapper.builder().build().readTree(Files.readString(trace))) {
            // --per-kind N: the first N requests of each kind, in trace order (a balanced, deterministic subset)
            if (perKind <= 0 || taken.merge(item.get("kind").asString(), 1, Integer::sum) <= perKind) {
                items.add(item);
            }
        }
        String set = a.getOrDefault("set", trace.getParent() == null ? "trace" : trace.getParent().getFileName()
                .toString());
        Files.createDirectories(out);
        KvMethods registry = KvMethods.defaults();
        String[] methods = specs.stream().map(KvCompressionSpec::method).filter(m -> !m.equals("none")).distinct()
                .toArray(String[]::new);
        Map<String, double[]> kept = new LinkedHashMap<>();
        EngineOptions eo = EngineOptions.defaults();
        try (CellRunner runner = CellRunner.load(model, eo, registry);
                BufferedWriter w = Files.newBufferedWriter(out.resolve(FILE), StandardCharsets.UTF_8)) {
            runner.onPrefill((cache, obs) -> {
                kept.clear();
                for (String m : methods) {
                    kept.put(m, KeptMass.of(registry.create(new KvCompressionSpec(m, MASS_RATIOS[0], 16)), cache, obs,
                            MASS_RATIOS));
                }
            });
            w.write("# " + String.join(" ", args) + "\n");
            w.write(header() + "\n");
            TextCodec codec = runner.engine().textCodec();
            int total = limit > 0 ? Math.min(limit, items.size()) : items.size();
            CompressionEval.Progress bar = new CompressionEval.Progress(total);
            for (int n = 0; n < total; n++) {
                JsonNode item = items.get(n);
                String kind = item.get("kind").asString();
                bar.show(n, kind + " #" + item.get("id").asInt());
                int[] ids = codec.encode(item.get("prompt").asString(), true);
                boolean retrieval = item.has("answer");
                int maxTokens = item.get("max_tokens").asInt();
                List<CellRunner.Result> res = runner.run(Arrays.copyOf(ids, ids.length - 1),
                        new int[] {ids[ids.length - 1]}, maxTokens, !retrieval, specs);
                String reference = null;
                for (CellRunner.Result r : res) {
                    if (r.spec().isIdentity()) {
                        reference = output(r, retrieval, runner, codec);
                    }
                }
                for (CellRunner.Result r : res) {
                    String text = output(r, retrieval, runner, codec);
                    double q = retrieval ? (RetrievalPrompts.answerCorrect(text, item.get("answer").asString()) ? 1 : 0)
                            : wordAgreement(reference, text);
                    w.write(row(kind, set, item.get("id").asInt(), ids.length, r, q, text, kept) + "\n");
                }
                w.flush();
            }
            bar.show(total, "done");
            System.err.println();
        }
    }

    /** What the request answered: the tokens after the forced last prompt token (to EOS for retrieval, all else). */
    private static String output(CellRunner.Result r, boolean retrieval, CellRunner runner, TextCodec codec) {
        return codec.decode(retrieval ? r.answer(1, runner.engine().eosTokenIds())
                : Arrays.copyOfRange(r.generated(), 1, r.generated().length));
    }

    /** The controller's default candidate grid (kvpilot.policy.candidates.*) and the uncompressed setting first. */
    static List<KvCompressionSpec> grid(String methods, String ratios, String bits, String quantOnly) {
        List<KvCompressionSpec> specs = new ArrayList<>();
        specs.add(KvCompressionSpec.NONE);
        for (String b : quantOnly.split(",")) {
            if (!b.isBlank()) {
                specs.add(new KvCompressionSpec("none", 0.0, Integer.parseInt(b.trim())));
            }
        }
        for (String m : methods.split(",")) {
            for (String r : ratios.split(",")) {
                for (String b : bits.split(",")) {
                    specs.add(new KvCompressionSpec(m.trim(), Double.parseDouble(r), Integer.parseInt(b.trim())));
                }
            }
        }
        return specs;
    }

    /**
     * Longest common subsequence of the two texts' whitespace-separated words over the reference's word count: the
     * trace replay's quality of a continuation (1 when identical, 1 when both are empty).
     */
    static double wordAgreement(String reference, String candidate) {
        String[] a = words(reference);
        String[] b = words(candidate);
        if (a.length == 0) {
            return b.length == 0 ? 1.0 : 0.0;
        }
        int[] prev = new int[b.length + 1];
        int[] cur = new int[b.length + 1];
        for (String x : a) {
            cur[0] = 0;
            for (int j = 0; j < b.length; j++) {
                cur[j + 1] = x.equals(b[j]) ? prev[j] + 1 : Math.max(prev[j + 1], cur[j]);
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return (double) prev[b.length] / a.length;
    }

    private static String[] words(String s) {
        String t = s.strip();
        return t.isEmpty() ? new String[0] : t.split("\\s+");
    }

    static String header() {
        StringBuilder h = new StringBuilder("task,set,L,depth,trial,context_tokens,prompt_tokens,method,ratio,bits,"
                + "correct,nll,tokens,bytes,bytes_uncompressed,kept_mass");
        for (double r : MASS_RATIOS) {
            h.append(",kept_mass_").append(CompressionEval.fmtRatio(r));
        }
        return h.append(",quality,answer").toString();
    }

    private static String row(String kind, String set, int id, int promptTokens, CellRunner.Result r, double quality,
            String text, Map<String, double[]> kept) {
        KvCompressionSpec s = r.spec();
        double[] masses = s.ratio() == 0 ? null : kept.get(s.method());
        double own = 1.0;
        StringBuilder m = new StringBuilder();
        for (int i = 0; i < MASS_RATIOS.length; i++) {
            double v = masses == null ? 1.0 : masses[i];
            if (masses != null && Math.abs(MASS_RATIOS[i] - s.ratio()) < 1e-9) {
                own = v;
            }
            m.append(',').append(fmt(v));
        }
        return String.join(",", kind, set, Integer.toString(promptTokens), "0", Integer.toString(id),
                Integer.toString(promptTokens - 1), Integer.toString(promptTokens), s.method(),
                CompressionEval.fmtRatio(s.ratio()), Integer.toString(s.bits()), quality >= 0.5 ? "1" : "0", "",
                Integer.toString(r.generated().length), Long.toString(r.bytes()), Long.toString(r.bytesUncompressed()),
                fmt(own)) + m + "," + fmt(quality) + ",\"" + text.replace("\"", "'").replace("\n", "\\n") + '"';
    }

    private static String fmt(double v) {
        return String.format(Locale.ROOT, "%.6f", v);
    }

    private static Map<String, String> flags(String[] args) {
        Map<String, String> m = new LinkedHashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) {
            if (!args[i].startsWith("--")) {
                throw new IllegalArgumentException("expected --flag value pairs, got " + args[i]);
            }
            m.put(args[i].substring(2), args[i + 1]);
        }
        return m;
    }

    private static String require(Map<String, String> a, String key) {
        String v = a.get(key);
        if (v == null) {
            throw new IllegalArgumentException("--" + key + " is required");
        }
        return v;
    }
}
