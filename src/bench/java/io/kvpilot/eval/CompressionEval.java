package io.kvpilot.eval;

import io.kvpilot.engine.EngineOptions;
import io.kvpilot.engine.TextCodec;
import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.kvcache.press.KvMethods;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The quality evaluation of docs/architecture.md §4 on the default model: perplexity ratio on held-out text, passkey
 * retrieval by depth and length, multi-key retrieval — over methods × ratios × bits. Query-agnostic: only the context
 * is compressed; the question (or the scored text) is fed afterwards. Writes a per-trial CSV as it goes (so a run cut
 * short still reports what it measured), then an aggregate CSV, PNG plots and the markdown table.
 *
 * <pre>
 * source bench/classpath.sh
 * OMP_WAIT_POLICY=PASSIVE java -Xmx4g -cp "$KVPILOT_CP" io.kvpilot.eval.CompressionEval [flags]
 * </pre>
 * Flags (defaults in brackets): {@code --model [models/kvpilot-mini] --tasks [ppl,passkey,multikey]
 * --methods [snapkv,streaming_llm,knorm,tova,h2o,pyramidkv,adakv_snapkv] --ratios [0,0.25,0.5,0.75,0.9]
 * --bits [16,8,4,2]} (bit widths of the quantization-only cells) {@code --hybrid-bits [16,4]} (bit widths of the
 * eviction cells) {@code --lengths [512,1024,2048] --depths [10,30,50,70,90] --trials [2]} (passkey trials per length
 * and depth) {@code --mk-trials [4]} (multi-key trials per length) {@code --ppl-lengths [1024] --ppl-windows [2]}
 * (windows per held-out set and trial round) {@code --ppl-tokens [256] --heldout [eval/heldout/heldout_children.txt,
 * eval/heldout/heldout_docs.txt] --out [docs/compression-results] --md [docs/compression-results.md]
 * --deadline-min [0 = none] --report-only [false] --query-aware [false] --threads [2] --decode-threads [2]}.
 */
public final class CompressionEval {

    static final String RAW = "raw.csv";
    static final String RAW_HEADER = "task,set,L,depth,trial,method,ratio,bits,correct,nll,tokens,bytes,bytes_uncompressed,answer";

    /** One trial of one cell. */
    record Row(String task, String set, int length, int depth, int trial, String method, double ratio, int bits,
            int correct, double nll, int tokens, long bytes, long bytesUncompressed, String answer) {
        String csv() {
            return String.join(",", task, set, Integer.toString(length), Integer.toString(depth),
                    Integer.toString(trial), method, fmtRatio(ratio), Integer.toString(bits), Integer.toString(correct),
                    Double.isNaN(nll) ? "" : Double.toString(nll), Integer.toString(tokens), Long.toString(bytes),
                    Long.toString(bytesUncompressed), '"' + answer.replace("\"", "'").replace("\n", "\\n") + '"');
        }

        static Row parse(String line) {
            int q = line.indexOf(",\"");
            String[] f = line.substring(0, q).split(",", -1);
            String ans = line.substring(q + 2, line.length() - 1);
            return new Row(f[0], f[1], Integer.parseInt(f[2]), Integer.parseInt(f[3]), Integer.parseInt(f[4]), f[5],
                    Double.parseDouble(f[6]), Integer.parseInt(f[7]), Integer.parseInt(f[8]),
                    f[9].isEmpty() ? Double.NaN : Double.parseDouble(f[9]), Integer.parseInt(f[10]),
                    Long.parseLong(f[11]), Long.parseLong(f[12]), ans);
        }

        KvCompressionSpec spec() {
            return new KvCompressionSpec(method, ratio, bits);
        }
    }

    static String fmtRatio(double r) {
        return String.format(Locale.ROOT, "%.2f", r);
    }

    /** Parsed flags. */
    static final class Options {
        Path model = Path.of("models/kvpilot-mini");
        List<String> tasks = List.of("ppl", "passkey", "multikey");
        List<String> methods = List.of("snapkv", "streaming_llm", "knorm", "tova", "h2o", "pyramidkv", "adakv_snapkv");
        double[] ratios = {0, 0.25, 0.5, 0.75, 0.9};
        int[] bits = {16, 8, 4, 2};
        int[] hybridBits = {16, 4};
        int[] lengths = {512, 1024, 2048};
        int[] depths = {10, 30, 50, 70, 90};
        int trials = 2;
        int mkTrials = 4;
        int[] pplLengths = {1024};
        int pplWindows = 2;
        int pplTokens = 256;
        List<Path> heldout = List.of(Path.of("eval/heldout/heldout_children.txt"),
                Path.of("eval/heldout/heldout_docs.txt"));
        Path out = Path.of("docs/compression-results");
        Path md = Path.of("docs/compression-results.md");
        double deadlineMin = 0;
        boolean reportOnly;
        boolean queryAware;
        int threads = 2;
        int decodeThreads = 2;
        String command = "";

        static Options parse(String[] args) {
            Options o = new Options();
            StringBuilder cmd = new StringBuilder();
            for (int i = 0; i < args.length; i += 2) {
                String v = i + 1 < args.length ? args[i + 1] : "";
                cmd.append(' ').append(args[i]).append(' ').append(v);
                switch (args[i]) {
                    case "--model" -> o.model = Path.of(v);
                    case "--tasks" -> o.tasks = List.of(v.split(","));
                    case "--methods" -> o.methods = v.isEmpty() || v.equals("none") ? List.of() : List.of(v.split(","));
                    case "--ratios" -> o.ratios = Arrays.stream(v.split(",")).mapToDouble(Double::parseDouble).toArray();
                    case "--bits" -> o.bits = ints(v);
                    case "--hybrid-bits" -> o.hybridBits = ints(v);
                    case "--lengths" -> o.lengths = ints(v);
                    case "--depths" -> o.depths = ints(v);
                    case "--trials" -> o.trials = Integer.parseInt(v);
                    case "--mk-trials" -> o.mkTrials = Integer.parseInt(v);
                    case "--ppl-lengths" -> o.pplLengths = ints(v);
                    case "--ppl-windows" -> o.pplWindows = Integer.parseInt(v);
                    case "--ppl-tokens" -> o.pplTokens = Integer.parseInt(v);
                    case "--heldout" -> o.heldout = Arrays.stream(v.split(",")).map(Path::of).toList();
                    case "--out" -> o.out = Path.of(v);
                    case "--md" -> o.md = Path.of(v);
                    case "--deadline-min" -> o.deadlineMin = Double.parseDouble(v);
                    case "--report-only" -> o.reportOnly = Boolean.parseBoolean(v);
                    case "--query-aware" -> o.queryAware = Boolean.parseBoolean(v);
                    case "--threads" -> o.threads = Integer.parseInt(v);
                    case "--decode-threads" -> o.decodeThreads = Integer.parseInt(v);
                    default -> throw new IllegalArgumentException("unknown flag " + args[i]);
                }
            }
            o.command = cmd.toString().trim();
            return o;
        }

        private static int[] ints(String v) {
            return Arrays.stream(v.split(",")).mapToInt(Integer::parseInt).toArray();
        }

        /** The grid: the uncompressed baseline first, quantization alone, then every method × ratio × hybrid bits. */
        List<KvCompressionSpec> specs() {
            List<KvCompressionSpec> s = new ArrayList<>();
            s.add(KvCompressionSpec.NONE);
            for (int b : bits) {
                if (b != 16) {
                    s.add(new KvCompressionSpec("none", 0, b));
                }
            }
            for (String m : methods) {
                for (double r : ratios) {
                    if (r == 0) {
                        s.add(new KvCompressionSpec(m, 0, 16)); // must equal the baseline exactly (checked)
                        continue;
                    }
                    for (int b : hybridBits) {
                        s.add(new KvCompressionSpec(m, r, b));
                    }
                }
            }
            return s;
        }
    }

    /** One unit of work: a prompt (or held-out window) run under every spec. */
    record Job(String task, String set, int length, int depth, int trial, int[] context, int[] forced, int answer,
            String expected) {}

    public static void main(String[] args) throws Exception {
        Options o = Options.parse(args);
        Files.createDirectories(o.out);
        if (!o.reportOnly) {
            run(o);
        }
        List<Row> rows = readRaw(o.out.resolve(RAW));
        if (o.reportOnly) {
            String first = Files.readAllLines(o.out.resolve(RAW), StandardCharsets.UTF_8).get(0);
            if (first.startsWith("# ")) {
                o.command = first.substring(2); // the command that measured the rows
            }
        }
        Report.write(o, rows);
        System.err.println("wrote " + o.md + " and " + o.out + "/{" + RAW + ",cells.csv,*.png}");
    }

    static void run(Options o) throws IOException {
        Instant start = Instant.now();
        List<KvCompressionSpec> specs = o.specs();
        KvMethods registry = KvMethods.defaults(0); // the protocol: compress the context once, then score
        EngineOptions eo = EngineOptions.defaults().withThreads(o.threads).withDecodeThreads(o.decodeThreads);
        try (CellRunner runner = CellRunner.load(o.model, eo, registry);
                BufferedWriter raw = Files.newBufferedWriter(o.out.resolve(RAW), StandardCharsets.UTF_8)) {
            raw.write("# " + o.command + "\n");
            raw.write(RAW_HEADER + "\n");
            TextCodec codec = runner.engine().textCodec();
            List<Job> jobs = jobs(o, codec);
            System.err.printf("%d specs x %d prompts/windows (model %s)%n", specs.size(), jobs.size(), o.model);
            Progress bar = new Progress(jobs.size());
            Map<String, Boolean> directChecked = new LinkedHashMap<>();
            int done = 0;
            for (Job job : jobs) {
                if (o.deadlineMin > 0 && Duration.between(start, Instant.now()).toSeconds() > o.deadlineMin * 60) {
                    System.err.printf("%ndeadline reached after %d of %d jobs; reporting what was measured%n", done,
                            jobs.size());
                    break;
                }
                bar.show(done, job.task() + " L=" + job.length() + (job.task().equals("passkey") ? " d=" + job.depth()
                        : "") + " t=" + job.trial());
                boolean ppl = job.task().equals("ppl");
                List<CellRunner.Result> res = runner.run(job.context(), job.forced(), job.answer(), ppl, specs);
                checkBatched(res, job);
                String key = job.task() + "/" + job.length();
                if (directChecked.putIfAbsent(key, true) == null) {
                    checkSolo(runner, job, specs, ppl);
                }
                for (CellRunner.Result r : res) {
                    Row row = toRow(job, r, runner, codec);
                    raw.write(row.csv() + "\n");
                }
                raw.flush();
                done++;
            }
            bar.show(done, "done");
            System.err.println();
            Report.saveChecks(o.out);
        }
    }

    /**
     * Ratio 0 at 16 bits inside the batched grid: the same tokens, log-probabilities within 1e-5 (rows of one batched
     * forward pass are not bit-identical to each other on MKL: the row's place in the GEMM tiles changes the summation
     * order). The bit-exact check runs each spec alone: {@link #checkSolo}.
     */
    static void checkBatched(List<CellRunner.Result> res, Job job) {
        CellRunner.Result base = res.get(0);
        if (!base.spec().equals(KvCompressionSpec.NONE)) {
            throw new IllegalStateException("first spec must be the uncompressed baseline");
        }
        for (CellRunner.Result r : res) {
            if (r.spec().ratio() == 0 && r.spec().bits() == 16) {
                double md = maxDiff(r, base);
                if (!Arrays.equals(r.generated(), base.generated()) || md > 1e-5) {
                    throw new IllegalStateException(r.spec() + " at ratio 0 / 16 bits differs from the uncompressed "
                            + "run (max |dlogp| " + md + ") on " + job.task() + " L=" + job.length() + " t="
                            + job.trial());
                }
                Report.batchedMax = Math.max(Report.batchedMax, md);
                Report.batchedChecks++;
            }
        }
    }

    /**
     * Bit-exact: the uncompressed run as a real prefill of the context (no graft), the grafted uncompressed run and
     * every method at ratio 0 / 16 bits, each run alone, give identical tokens and identical log-probabilities.
     */
    static void checkSolo(CellRunner runner, Job job, List<KvCompressionSpec> specs, boolean ppl) {
        CellRunner.Result direct = runner.runDirect(job.context(), job.forced(), job.answer(), ppl,
                KvCompressionSpec.NONE);
        for (KvCompressionSpec spec : specs) {
            if (spec.ratio() != 0 || spec.bits() != 16) {
                continue;
            }
            CellRunner.Result r = runner.run(job.context(), job.forced(), job.answer(), ppl, List.of(spec)).get(0);
            boolean same = Arrays.equals(r.generated(), direct.generated());
            for (int i = 1; i < r.logProbs().length; i++) {
                same &= Double.doubleToLongBits(r.logProbs()[i]) == Double.doubleToLongBits(direct.logProbs()[i]);
            }
            if (!same) {
                throw new IllegalStateException(spec + " (grafted, alone) is not bit-identical to the uncompressed "
                        + "real-prefill run on " + job.task() + " L=" + job.length() + " (max |dlogp| "
                        + maxDiff(r, direct) + ")");
            }
            Report.soloChecks++;
        }
    }

    static double maxDiff(CellRunner.Result a, CellRunner.Result b) {
        double md = 0;
        for (int i = 1; i < a.logProbs().length; i++) {
            md = Math.max(md, Math.abs(a.logProbs()[i] - b.logProbs()[i]));
        }
        return md;
    }

    static Row toRow(Job job, CellRunner.Result r, CellRunner runner, TextCodec codec) {
        KvCompressionSpec s = r.spec();
        if (job.task().equals("ppl")) {
            return new Row("ppl", job.set(), job.length(), 0, job.trial(), s.method(), s.ratio(), s.bits(), 0,
                    r.nll(), job.forced().length - 1, r.bytes(), r.bytesUncompressed(), "");
        }
        String answer = codec.decode(r.answer(job.forced().length, runner.engine().eosTokenIds()));
        boolean ok = RetrievalPrompts.answerCorrect(answer, job.expected());
        return new Row(job.task(), job.set(), job.length(), job.depth(), job.trial(), s.method(), s.ratio(), s.bits(),
                ok ? 1 : 0, Double.NaN, 0, r.bytes(), r.bytesUncompressed(), answer);
    }

    /** Jobs interleaved by trial round (perplexity windows first in each round), so a run cut short by the deadline covers every task and length. */
    static List<Job> jobs(Options o, TextCodec codec) throws IOException {
        List<Job> jobs = new ArrayList<>();
        java.util.function.ToIntFunction<String> count = s -> codec.encode(s, true).length;
        Map<Path, int[]> streams = new LinkedHashMap<>();
        if (o.tasks.contains("ppl")) {
            int need = 0;
            for (int l : o.pplLengths) {
                need = Math.max(need, l + 1 + o.pplTokens);
            }
            int rounds = Math.max(o.trials, o.mkTrials);
            for (Path p : o.heldout) {
                streams.put(p, HeldOut.stream(p, codec, (long) need * o.pplWindows * rounds));
            }
        }
        int rounds = Math.max(Math.max(o.trials, o.mkTrials), 1);
        int[] pplUsed = new int[o.heldout.size()];
        for (int t = 0; t < rounds; t++) {
            if (o.tasks.contains("ppl") && t < o.trials) {
                for (int l : o.pplLengths) {
                    int span = l + 1 + o.pplTokens;
                    int si = 0;
                    for (Map.Entry<Path, int[]> e : streams.entrySet()) {
                        for (int w = 0; w < o.pplWindows; w++) {
                            int from = pplUsed[si] * span;
                            if (from + span > e.getValue().length) {
                                break;
                            }
                            pplUsed[si]++;
                            int[] ctx = Arrays.copyOfRange(e.getValue(), from, from + l);
                            int[] forced = Arrays.copyOfRange(e.getValue(), from + l, from + span);
                            String set = e.getKey().getFileName().toString().replace(".txt", "");
                            jobs.add(new Job("ppl", set, l, 0, t * o.pplWindows + w, ctx, forced, 0, ""));
                        }
                        si++;
                    }
                }
            }
            for (int l : o.lengths) {
                if (o.tasks.contains("passkey") && t < o.trials) {
                    for (int d : o.depths) {
                        jobs.add(retrieval("passkey", l, d, t, RetrievalPrompts.passkeyCase(count, l, d, t), codec,
                                o.queryAware));
                    }
                }
                if (o.tasks.contains("multikey") && t < o.mkTrials) {
                    jobs.add(retrieval("multikey", l, 0, t, RetrievalPrompts.multikeyCase(count, l, t), codec,
                            o.queryAware));
                }
            }
        }
        return jobs;
    }

    /**
     * A retrieval job. Query-agnostic (the protocol): the context is compressed, the question's tokens come after.
     * {@code queryAware} (a diagnostic, not the protocol): everything but the prompt's last token is compressed, so
     * the observation window of SnapKV-like scorers holds the question.
     */
    static Job retrieval(String task, int length, int depth, int trial, RetrievalPrompts.Case c, TextCodec codec,
            boolean queryAware) {
        int[] all = codec.encode(c.prompt(), true);
        if (queryAware) {
            return new Job(task, "synthetic", length, depth, trial, Arrays.copyOf(all, all.length - 1),
                    new int[] {all[all.length - 1]}, RetrievalPrompts.ANSWER_TOKENS, c.expected());
        }
        int[] ctx = codec.encode(c.context(), true);
        if (ctx.length >= all.length || !Arrays.equals(ctx, Arrays.copyOf(all, ctx.length))) {
            throw new IllegalStateException("context tokens are not a prefix of the prompt's tokens (" + task + ")");
        }
        return new Job(task, "synthetic", length, depth, trial, ctx, Arrays.copyOfRange(all, ctx.length, all.length),
                RetrievalPrompts.ANSWER_TOKENS, c.expected());
    }

    /**
     * Rows of a raw CSV. Files measured before the reference became {@code bytes_uncompressed} (fp32, as the API
     * reports it) have an {@code fp16_bytes} column instead: the same tokens at 2 bytes per element, converted here.
     */
    static List<Row> readRaw(Path file) throws IOException {
        List<Row> rows = new ArrayList<>();
        long scale = 1;
        for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
            if (line.startsWith("task,")) {
                scale = line.contains(",fp16_bytes,") ? Float.BYTES / 2 : 1;
            } else if (!line.isBlank() && !line.startsWith("#")) {
                Row r = Row.parse(line);
                rows.add(scale == 1 ? r : new Row(r.task(), r.set(), r.length(), r.depth(), r.trial(), r.method(),
                        r.ratio(), r.bits(), r.correct(), r.nll(), r.tokens(), r.bytes(),
                        r.bytesUncompressed() * scale, r.answer()));
            }
        }
        return rows;
    }

    /** Text progress bar on stderr. */
    static final class Progress {
        final int total;
        final long t0 = System.nanoTime();

        Progress(int total) {
            this.total = total;
        }

        void show(int done, String what) {
            int w = 30, fill = total == 0 ? w : done * w / total;
            double el = (System.nanoTime() - t0) / 1e9;
            String eta = done == 0 ? "?" : fmtTime(el / done * (total - done));
            System.err.printf("\r[%s%s] %d/%d %-28s elapsed %s eta %s   ", "#".repeat(fill), ".".repeat(w - fill),
                    done, total, what, fmtTime(el), eta);
        }

        static String fmtTime(double s) {
            return String.format(Locale.ROOT, "%dm%02ds", (long) s / 60, (long) s % 60);
        }
    }
}
