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
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The quality predictor's training data: {@link CompressionEval}'s per-prompt grid (same prompts, same batched
 * grafted runs, same exactness check of the uncompressed row), plus for every prompt the kept score mass of each
 * eviction method at each of the grid's ratios ({@link KeptMass}, computed on the prefilled cache the methods then
 * compress). One CSV row per prompt and spec; the quality target is derived from it by the training script.
 *
 * <pre>
 * java -cp ... io.kvpilot.eval.PredictorDataset [CompressionEval's flags] --out DIR
 * </pre>
 * writes {@code DIR/predictor_data.csv}. {@code --ratios} must not hold 0 (the methods' ratio-0 rows equal the
 * uncompressed one). {@code bench/predictor_data.sh} holds the flags of the published data set.
 */
public final class PredictorDataset {

    static final String FILE = "predictor_data.csv";

    private PredictorDataset() {}

    public static void main(String[] args) throws IOException {
        CompressionEval.Options o = CompressionEval.Options.parse(args);
        if (Arrays.stream(o.ratios).anyMatch(r -> r == 0)) {
            throw new IllegalArgumentException("--ratios must not hold 0 here");
        }
        Files.createDirectories(o.out);
        Instant start = Instant.now();
        List<KvCompressionSpec> specs = o.specs();
        KvMethods registry = KvMethods.defaults();
        EngineOptions eo = EngineOptions.defaults().withThreads(o.threads).withDecodeThreads(o.decodeThreads);
        Map<String, double[]> kept = new LinkedHashMap<>();
        try (CellRunner runner = CellRunner.load(o.model, eo, registry);
                BufferedWriter out = Files.newBufferedWriter(o.out.resolve(FILE), StandardCharsets.UTF_8)) {
            runner.onPrefill((cache, obs) -> {
                kept.clear();
                for (String m : o.methods) {
                    kept.put(m, KeptMass.of(registry.create(new KvCompressionSpec(m, o.ratios[0], 16)), cache, obs,
                            o.ratios));
                }
            });
            out.write("# " + o.command + "\n");
            out.write(header(o.ratios) + "\n");
            TextCodec codec = runner.engine().textCodec();
            List<CompressionEval.Job> jobs = CompressionEval.jobs(o, codec);
            System.err.printf("%d specs x %d prompts/windows (model %s)%n", specs.size(), jobs.size(), o.model);
            CompressionEval.Progress bar = new CompressionEval.Progress(jobs.size());
            int done = 0;
            for (CompressionEval.Job job : jobs) {
                if (o.deadlineMin > 0 && Duration.between(start, Instant.now()).toSeconds() > o.deadlineMin * 60) {
                    System.err.printf("%ndeadline reached after %d of %d jobs%n", done, jobs.size());
                    break;
                }
                bar.show(done, job.task() + " L=" + job.length() + " t=" + job.trial());
                boolean ppl = job.task().equals("ppl");
                List<CellRunner.Result> res = runner.run(job.context(), job.forced(), job.answer(), ppl, specs);
                CompressionEval.checkBatched(res, job);
                int promptTokens = job.context().length + (ppl ? 0 : job.forced().length);
                for (CellRunner.Result r : res) {
                    CompressionEval.Row row = CompressionEval.toRow(job, r, runner, codec);
                    out.write(csv(row, job.context().length, promptTokens, kept.get(row.method()), o.ratios) + "\n");
                }
                out.flush();
                done++;
            }
            bar.show(done, "done");
            System.err.println();
        }
    }

    static String header(double[] ratios) {
        StringBuilder h = new StringBuilder("task,set,L,depth,trial,context_tokens,prompt_tokens,method,ratio,bits,"
                + "correct,nll,tokens,bytes,bytes_uncompressed,kept_mass");
        for (double r : ratios) {
            h.append(",kept_mass_").append(CompressionEval.fmtRatio(r));
        }
        return h.append(",answer").toString();
    }

    /** {@code masses} null (the method evicts nothing): every fraction is 1. */
    static String csv(CompressionEval.Row row, int contextTokens, int promptTokens, double[] masses, double[] ratios) {
        StringBuilder s = new StringBuilder();
        s.append(String.join(",", row.task(), row.set(), Integer.toString(row.length()),
                Integer.toString(row.depth()), Integer.toString(row.trial()), Integer.toString(contextTokens),
                Integer.toString(promptTokens), row.method(), CompressionEval.fmtRatio(row.ratio()),
                Integer.toString(row.bits()), Integer.toString(row.correct()),
                Double.isNaN(row.nll()) ? "" : Double.toString(row.nll()), Integer.toString(row.tokens()),
                Long.toString(row.bytes()), Long.toString(row.bytesUncompressed())));
        double own = 1.0;
        for (int i = 0; i < ratios.length; i++) {
            if (masses != null && Math.abs(ratios[i] - row.ratio()) < 1e-9) {
                own = masses[i];
            }
        }
        s.append(',').append(fmt(own));
        for (int i = 0; i < ratios.length; i++) {
            s.append(',').append(fmt(masses == null ? 1.0 : masses[i]));
        }
        return s.append(",\"").append(row.answer().replace("\"", "'").replace("\n", "\\n")).append('"').toString();
    }

    private static String fmt(double v) {
        return String.format(Locale.ROOT, "%.6f", v);
    }
}
