package io.kvpilot.eval;

import io.kvpilot.eval.CompressionEval.Row;
import io.kvpilot.kvcache.KvCompressionSpec;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.BiPredicate;
import java.util.function.Predicate;

/** Aggregates the per-trial rows into cells; writes cells.csv, the PNG plots and the markdown table. */
final class Report {

    static int batchedChecks;
    static double batchedMax;
    static int soloChecks;

    private Report() {}

    static final String CHECKS = "checks.properties";

    /** Keeps the run's exactness-check counts beside raw.csv, so {@code --report-only} reports them too. */
    static void saveChecks(Path out) throws IOException {
        Files.writeString(out.resolve(CHECKS), "batched=" + batchedChecks + "\nbatchedMax=" + batchedMax + "\nsolo="
                + soloChecks + "\n", StandardCharsets.UTF_8);
    }

    static void loadChecks(Path out) throws IOException {
        Path f = out.resolve(CHECKS);
        if (soloChecks > 0 || batchedChecks > 0 || !Files.exists(f)) {
            return;
        }
        java.util.Properties p = new java.util.Properties();
        try (var in = Files.newBufferedReader(f, StandardCharsets.UTF_8)) {
            p.load(in);
        }
        batchedChecks = Integer.parseInt(p.getProperty("batched", "0"));
        batchedMax = Double.parseDouble(p.getProperty("batchedMax", "0"));
        soloChecks = Integer.parseInt(p.getProperty("solo", "0"));
    }

    /** Sums of one cell over a subset of rows. */
    static final class Agg {
        int n;
        int correct;
        double nll;
        long tokens;
        long bytes;
        long uncompressed;

        void add(Row r) {
            n++;
            correct += r.correct();
            if (!Double.isNaN(r.nll())) {
                nll += r.nll();
                tokens += r.tokens();
            }
            bytes += r.bytes();
            uncompressed += r.bytesUncompressed();
        }

        double acc() {
            return n == 0 ? Double.NaN : (double) correct / n;
        }

        double ppl() {
            return tokens == 0 ? Double.NaN : Math.exp(nll / tokens);
        }

        double bytesFrac() {
            return uncompressed == 0 ? Double.NaN : (double) bytes / uncompressed;
        }
    }

    static final KvCompressionSpec BASE = KvCompressionSpec.NONE;

    static Agg agg(List<Row> rows, KvCompressionSpec spec, Predicate<Row> filter) {
        Agg a = new Agg();
        for (Row r : rows) {
            if (r.method().equals(spec.method()) && r.ratio() == spec.ratio() && r.bits() == spec.bits() && filter.test(r)) {
                a.add(r);
            }
        }
        return a;
    }

    static Predicate<Row> task(String t) {
        return r -> r.task().equals(t);
    }

    /** The prompt or window a row measured: rows of different cells with the same key saw the same text. */
    static String promptKey(Row r) {
        return r.task() + '/' + r.set() + '/' + r.length() + '/' + r.depth() + '/' + r.trial();
    }

    /**
     * The uncompressed cache on exactly the prompts (or windows) a cell measured. Every ratio against "uncompressed"
     * goes through this, so a cell that a run measured on fewer trials is never compared with other text.
     */
    static Agg matchedBase(List<Row> rows, KvCompressionSpec s, String task) {
        Set<String> keys = new java.util.HashSet<>();
        for (Row r : rows) {
            if (r.task().equals(task) && r.method().equals(s.method()) && r.ratio() == s.ratio() && r.bits() == s.bits()) {
                keys.add(promptKey(r));
            }
        }
        return agg(rows, BASE, r -> r.task().equals(task) && keys.contains(promptKey(r)));
    }

    static double pplRatio(List<Row> rows, KvCompressionSpec s) {
        return agg(rows, s, task("ppl")).ppl() / matchedBase(rows, s, "ppl").ppl();
    }

    static double relAcc(List<Row> rows, KvCompressionSpec s, String task) {
        return agg(rows, s, task(task)).acc() / matchedBase(rows, s, task).acc();
    }

    static void write(CompressionEval.Options o, List<Row> rows) throws IOException {
        loadChecks(o.out);
        Set<KvCompressionSpec> specs = new LinkedHashSet<>();
        rows.forEach(r -> specs.add(r.spec()));
        if (rows.isEmpty()) {
            throw new IllegalStateException("no measured rows");
        }
        TreeSet<Integer> lengths = new TreeSet<>();
        rows.stream().filter(r -> !r.task().equals("ppl")).forEach(r -> lengths.add(r.length()));
        TreeSet<Double> ratios = new TreeSet<>();
        specs.forEach(s -> ratios.add(s.ratio()));
        List<String> methods = new ArrayList<>();
        specs.forEach(s -> {
            if (!s.method().equals("none") && !methods.contains(s.method())) {
                methods.add(s.method());
            }
        });
        TreeSet<Integer> hybridBits = new TreeSet<>(java.util.Comparator.reverseOrder());
        specs.stream().filter(s -> s.ratio() > 0).forEach(s -> hybridBits.add(s.bits()));
        TreeSet<Integer> quantBits = new TreeSet<>(java.util.Comparator.reverseOrder());
        specs.stream().filter(s -> s.method().equals("none")).forEach(s -> quantBits.add(s.bits()));

        // ---- cells.csv
        StringBuilder csv = new StringBuilder("method,ratio,bits,passkey_trials,passkey_acc,passkey_rel,multikey_trials,"
                + "multikey_acc,multikey_rel,ppl_windows,ppl,ppl_ratio");
        for (int l : lengths) {
            csv.append(",bytes_frac_L").append(l);
        }
        csv.append('\n');
        for (KvCompressionSpec s : specs) {
            Agg pk = agg(rows, s, task("passkey")), mk = agg(rows, s, task("multikey")), pp = agg(rows, s, task("ppl"));
            csv.append(String.join(",", s.method(), CompressionEval.fmtRatio(s.ratio()), Integer.toString(s.bits()),
                    Integer.toString(pk.n), f4(pk.acc()), f4(relAcc(rows, s, "passkey")), Integer.toString(mk.n), f4(mk.acc()),
                    f4(relAcc(rows, s, "multikey")), Integer.toString(pp.n), f4(pp.ppl()), f4(pplRatio(rows, s))));
            for (int l : lengths) {
                csv.append(',').append(f4(agg(rows, s, r -> r.length() == l && !r.task().equals("ppl")).bytesFrac()));
            }
            csv.append('\n');
        }
        Files.writeString(o.out.resolve("cells.csv"), csv, StandardCharsets.UTF_8);

        // ---- plots
        int maxL = lengths.isEmpty() ? 0 : lengths.last();
        for (int hb : hybridBits) {
            List<PngPlot.Panel> panels = new ArrayList<>();
            String bitsName = hb == 16 ? "fp32 (no quantization)" : "int" + hb;
            for (String[] t : new String[][] {{"passkey", "passkey accuracy"}, {"multikey", "multi-key accuracy"},
                {"ppl", "PPL / PPL(uncompressed)"}}) {
                if (rows.stream().noneMatch(task(t[0]))) {
                    continue;
                }
                PngPlot.Panel p = new PngPlot.Panel(t[1] + ", kept entries " + bitsName, "compression ratio", t[1]);
                if (!t[0].equals("ppl")) {
                    p.yRange(-0.03, 1.03);
                }
                for (String m : methods) {
                    List<double[]> pts = new ArrayList<>();
                    for (double r : ratios) {
                        KvCompressionSpec s = r == 0 ? new KvCompressionSpec(m, 0, 16) : new KvCompressionSpec(m, r, hb);
                        if (!specs.contains(s)) {
                            continue;
                        }
                        Agg a = agg(rows, s, task(t[0]));
                        double y = t[0].equals("ppl") ? pplRatio(rows, s) : a.acc();
                        pts.add(new double[] {r, y});
                    }
                    p.add(series(m, pts, true));
                }
                panels.add(p);
            }
            PngPlot.write(o.out.resolve("quality-vs-ratio-" + (hb == 16 ? "fp" : "int" + hb) + ".png"),
                    "kvpilot-mini: quality vs compression ratio (" + bitsName + "; ratio 0 = uncompressed)", panels);
        }
        List<PngPlot.Panel> panels = new ArrayList<>();
        for (String[] t : new String[][] {{"passkey", "passkey accuracy"}, {"multikey", "multi-key accuracy"},
            {"ppl", "PPL / PPL(uncompressed)"}}) {
            if (rows.stream().noneMatch(task(t[0]))) {
                continue;
            }
            PngPlot.Panel p = new PngPlot.Panel(t[1], "KV bytes held / bytes_uncompressed (fp32) of the same tokens",
                    t[1]);
            if (!t[0].equals("ppl")) {
                p.yRange(-0.03, 1.03);
            }
            List<String> groups = new ArrayList<>(List.of("none (quantization only)"));
            groups.addAll(methods);
            for (String g : groups) {
                List<double[]> pts = new ArrayList<>();
                for (KvCompressionSpec s : specs) {
                    boolean mine = g.startsWith("none") ? s.method().equals("none") : s.method().equals(g);
                    if (!mine) {
                        continue;
                    }
                    Agg a = agg(rows, s, task(t[0]));
                    double y = t[0].equals("ppl") ? pplRatio(rows, s) : a.acc();
                    pts.add(new double[] {a.bytesFrac(), y});
                }
                p.add(series(g, pts, false));
            }
            panels.add(p);
        }
        PngPlot.write(o.out.resolve("quality-vs-bytes.png"),
                "kvpilot-mini: quality vs KV bytes (every cell; uncompressed = 1.0, the dense fp32 cache)", panels);

        // ---- markdown
        StringBuilder md = new StringBuilder();
        md.append("# KV-cache compression: measured quality on kvpilot-mini (issue 4)\n\n");
        md.append("Generated by `io.kvpilot.eval.CompressionEval` on ").append(LocalDate.now())
                .append(" (2-core CPU, DJL/PyTorch fp32). Command:\n\n```bash\n");
        if (o.command.startsWith("bash ")) { // several runs merged by a script (bench/eval_grid.sh)
            md.append(o.command).append("\n```\n\n");
        } else {
            md.append("source bench/classpath.sh\n")
                    .append("OMP_WAIT_POLICY=PASSIVE java -Xmx4g -cp \"$KVPILOT_CP\" io.kvpilot.eval.CompressionEval")
                    .append(rawCommand(o)).append("\n```\n\n");
        }
        md.append("Per-trial rows: [`").append(o.out).append("/raw.csv`](").append(rel(o)).append("/raw.csv); cells: [`")
                .append(o.out).append("/cells.csv`](").append(rel(o)).append("/cells.csv). Plots: ");
        for (int hb : hybridBits) {
            String f = "quality-vs-ratio-" + (hb == 16 ? "fp" : "int" + hb) + ".png";
            md.append("[").append(f).append("](").append(rel(o)).append('/').append(f).append("), ");
        }
        md.append("[quality-vs-bytes.png](").append(rel(o)).append("/quality-vs-bytes.png).\n\n");
        if (o.command.contains("--query-aware true")) {
            md.append("> **Diagnostic run, query-AWARE (not the protocol):** the question was compressed with the context "
                    + "(everything but the prompt's last token), so SnapKV-like scorers saw the question in their "
                    + "observation window. The protocol's (query-agnostic) results are in docs/compression-results.md.\n\n");
        }
        md.append(protocol(rows, lengths));
        md.append("\n## Targets\n\n").append(targets(rows, methods, lengths)).append('\n');
        for (String[] t : new String[][] {{"passkey", "Passkey accuracy (all lengths and depths pooled)"},
            {"multikey", "Multi-key accuracy (K = 4, all lengths pooled)"},
            {"ppl", "Perplexity ratio PPL / PPL(uncompressed) (held-out text, 256 scored tokens per window)"}}) {
            if (rows.stream().noneMatch(task(t[0]))) {
                continue;
            }
            md.append("## ").append(t[1]).append("\n\n");
            Agg b = agg(rows, BASE, task(t[0]));
            md.append(t[0].equals("ppl") ? String.format(Locale.ROOT, "Uncompressed PPL %.3f over %d tokens.%n%n",
                    b.ppl(), b.tokens) : String.format(Locale.ROOT, "Uncompressed: %d / %d correct.%n%n", b.correct, b.n));
            md.append(grid(rows, specs, methods, ratios, hybridBits, quantBits, t[0]));
        }
        md.append("## KV bytes held after compression / uncompressed bytes of the same tokens\n\n");
        md.append("Measured from the tensors each compacted cache holds right after compression (`SequenceKvCache.bytes()`: "
                + "capacity, scales, zero-points and the full-precision window included), pooled over the retrieval "
                + "prompts of each length; the reference is the API's `bytes_uncompressed`: what the engine's dense cache holds, "
                + "fp32 (4 bytes) × 2 (K,V) × layers × KV heads × head dim per context token, so uncompressed is 1.0 "
                + "(an fp16 cache would be 0.5).\n\n");
        md.append("| method | bits | ratio |");
        lengths.forEach(l -> md.append(" L=").append(l).append(" |"));
        md.append("\n|---|---|---|");
        lengths.forEach(l -> md.append("---|"));
        md.append('\n');
        for (KvCompressionSpec s : specs) {
            if (s.ratio() == 0 && s.bits() == 16 && !s.method().equals("none")) {
                continue;
            }
            md.append("| ").append(s.method()).append(" | ").append(s.bits()).append(" | ")
                    .append(CompressionEval.fmtRatio(s.ratio())).append(" |");
            for (int l : lengths) {
                md.append(' ').append(f3(agg(rows, s, r -> r.length() == l && !r.task().equals("ppl")).bytesFrac()))
                        .append(" |");
            }
            md.append('\n');
        }
        md.append('\n');
        byLength(md, rows, methods, lengths, ratios);
        md.append("## Exactness\n\n");
        md.append("Every method at ratio 0 / 16 bits was run in every batch beside the uncompressed baseline: same tokens, "
                + "|Δ log p| ≤ 1e-5 asserted");
        if (batchedChecks > 0) {
            md.append(batchedMax == 0 ? String.format(Locale.ROOT, " (%d checks this run, all bit-identical; the "
                    + "tolerance is there because rows of one batched forward need not be bit-identical on MKL — an "
                    + "earlier engine build differed by 2e-9)", batchedChecks)
                    : String.format(Locale.ROOT, " (%d checks this run, largest %.2e — rows of one batched forward are "
                    + "not bit-identical on MKL)", batchedChecks, batchedMax));
        }
        md.append(". Bit-exact check: on the first prompt/window of each task and length, the uncompressed run as a real "
                + "prefill, the grafted uncompressed run and every method at ratio 0 / 16 bits, each run alone, gave "
                + "identical tokens and bit-identical log-probabilities");
        if (soloChecks > 0) {
            md.append(" (").append(soloChecks).append(" checks this run)");
        }
        md.append(". Both are assertions: the run stops if one fails.\n");
        Path notes = o.out.resolve("notes.md"); // hand-written reading of the numbers, kept across regenerations
        if (Files.exists(notes)) {
            md.append('\n').append(Files.readString(notes, StandardCharsets.UTF_8));
        }
        Files.writeString(o.md, md, StandardCharsets.UTF_8);
    }

    static String rel(CompressionEval.Options o) {
        Path base = o.md.toAbsolutePath().getParent();
        return base.relativize(o.out.toAbsolutePath()).toString().replace('\\', '/');
    }

    static String rawCommand(CompressionEval.Options o) {
        return o.command.isEmpty() ? "" : " " + o.command.replace(" --report-only true", "");
    }

    static String protocol(List<Row> rows, TreeSet<Integer> lengths) {
        StringBuilder s = new StringBuilder("## What was run\n\n");
        Map<String, TreeSet<Integer>> trials = new LinkedHashMap<>();
        for (String t : List.of("passkey", "multikey", "ppl")) {
            Map<String, Integer> per = new LinkedHashMap<>();
            rows.stream().filter(task(t)).forEach(r -> per.merge(r.method() + r.ratio() + "/" + r.bits(), 1, Integer::sum));
            trials.put(t, new TreeSet<>(per.values()));
        }
        s.append("Query-agnostic, as kvpress by default: only the context is prefilled and compressed; the question "
                + "(retrieval) or the scored text (perplexity) is fed afterwards, teacher-forced, then the answer is decoded "
                + "greedily (8 tokens at most, stop at EOS, exact match of `^\\s*(\\d+)`). Prompts are the training's "
                + "normative formats (training/README.md, `RetrievalPrompts` = `training/synthetic.py`).\n\n");
        s.append("- **Passkey**: lengths ").append(distinct(rows, "passkey", true)).append(", depths ")
                .append(distinct(rows, "passkey", false)).append(" %; trials per cell (lengths × depths × trials): ")
                .append(trials.get("passkey")).append(".\n");
        s.append("- **Multi-key** (K = 4, one asked): lengths ").append(distinct(rows, "multikey", true))
                .append("; trials per cell: ").append(trials.get("multikey")).append(".\n");
        s.append("- **Perplexity**: context lengths ").append(distinct(rows, "ppl", true))
                .append(" of held-out text (eval/heldout/: the training split's held-out children's books and a sample of "
                        + "the held-out documentation pages; documents as `<s>` + text + `</s>` like training/evaluate.py), "
                        + "then 257 tokens teacher-forced: the first is predicted from the uncompressed prefill and not "
                        + "scored, the next 256 are scored; windows per cell: ").append(trials.get("ppl")).append(".\n");
        s.append("- **Grid** (every cell listed below was measured; `—` = not in this run's grid): the cells of the "
                + "tables. Eviction keeps entries fp32 (bits 16) or converts the kept ones (bits 8/4/2); `none` at "
                + "8/4/2 bits is quantization alone (int8 per token; KIVI int4/int2: keys per channel, values per token, "
                + "group 32, the 32 most recent tokens in full precision).\n");
        return s.toString();
    }

    static String distinct(List<Row> rows, String t, boolean length) {
        TreeSet<Integer> v = new TreeSet<>();
        rows.stream().filter(task(t)).forEach(r -> v.add(length ? r.length() : r.depth()));
        return v.toString();
    }

    static String grid(List<Row> rows, Set<KvCompressionSpec> specs, List<String> methods, TreeSet<Double> ratios,
            TreeSet<Integer> hybridBits, TreeSet<Integer> quantBits, String t) {
        StringBuilder s = new StringBuilder("| method | bits (kept entries) |");
        ratios.forEach(r -> s.append(" ratio ").append(CompressionEval.fmtRatio(r)).append(" |"));
        s.append("\n|---|---|");
        ratios.forEach(r -> s.append("---|"));
        s.append('\n');
        for (int b : quantBits) {
            s.append("| none | ").append(b).append(" |");
            for (double r : ratios) {
                s.append(' ').append(r == 0 ? cell(rows, new KvCompressionSpec("none", 0, b), t) : "—")
                        .append(" |");
            }
            s.append('\n');
        }
        for (String m : methods) {
            for (int b : hybridBits) {
                s.append("| ").append(m).append(" | ").append(b).append(" |");
                for (double r : ratios) {
                    KvCompressionSpec spec = r == 0 ? new KvCompressionSpec(m, 0, 16) : new KvCompressionSpec(m, r, b);
                    s.append(' ').append(specs.contains(spec) ? cell(rows, spec, t) : "—").append(" |");
                }
                s.append('\n');
            }
        }
        s.append("\nRatio 0 is each method's own ratio-0 / 16-bit run (the uncompressed cache).\n\n");
        return s.toString();
    }

    static String cell(List<Row> rows, KvCompressionSpec s, String t) {
        Agg a = agg(rows, s, task(t));
        if (a.n == 0) {
            return "—";
        }
        return t.equals("ppl") ? f3(pplRatio(rows, s)) : String.format(Locale.ROOT, "%.0f %%", 100 * a.acc());
    }

    static void byLength(StringBuilder md, List<Row> rows, List<String> methods, TreeSet<Integer> lengths,
            TreeSet<Double> ratios) {
        if (rows.stream().noneMatch(task("passkey"))) {
            return;
        }
        md.append("## Passkey accuracy by length (16 bits)\n\n| method | ratio |");
        lengths.forEach(l -> md.append(" L=").append(l).append(" |"));
        md.append("\n|---|---|");
        lengths.forEach(l -> md.append("---|"));
        md.append('\n');
        md.append("| none | 0.00 |");
        for (int l : lengths) {
            md.append(' ').append(pct(agg(rows, BASE, r -> r.task().equals("passkey") && r.length() == l).acc())).append(" |");
        }
        md.append('\n');
        passkeyRows(md, rows, methods, ratios, lengths, (r, l) -> r.length() == l);
        TreeSet<Integer> depths = new TreeSet<>();
        rows.stream().filter(task("passkey")).forEach(r -> depths.add(r.depth()));
        md.append("## Passkey accuracy by depth (16 bits, all lengths pooled)\n\n| method | ratio |");
        depths.forEach(d -> md.append(" depth ").append(d).append(" % |"));
        md.append("\n|---|---|");
        depths.forEach(d -> md.append("---|"));
        md.append('\n');
        passkeyRows(md, rows, methods, ratios, depths, (r, d) -> r.depth() == d);
    }

    /**
     * One row per method and ratio above 0 (16 bits): passkey accuracy in each of {@code columns}, a row counting for
     * the column {@code inColumn} says; then a blank line.
     */
    private static void passkeyRows(StringBuilder md, List<Row> rows, List<String> methods, TreeSet<Double> ratios,
            TreeSet<Integer> columns, BiPredicate<Row, Integer> inColumn) {
        for (double ratio : ratios) {
            if (ratio == 0) {
                continue;
            }
            for (String m : methods) {
                KvCompressionSpec s = new KvCompressionSpec(m, ratio, 16);
                md.append("| ").append(m).append(" | ").append(CompressionEval.fmtRatio(ratio)).append(" |");
                for (int col : columns) {
                    md.append(' ').append(pct(agg(rows, s, r -> r.task().equals("passkey") && inColumn.test(r, col))
                            .acc())).append(" |");
                }
                md.append('\n');
            }
        }
        md.append('\n');
    }

    static String targets(List<Row> rows, List<String> methods, TreeSet<Integer> lengths) {
        StringBuilder s = new StringBuilder("| target | measured | met? |\n|---|---|---|\n");
        for (double[] t : new double[][] {{0.5, 0.95}, {0.75, 0.85}}) {
            String best = null;
            double bestAcc = -1;
            int n = 0;
            for (String m : methods) {
                Agg a = agg(rows, new KvCompressionSpec(m, t[0], 16), task("passkey"));
                if (a.n > 0 && a.acc() > bestAcc) {
                    bestAcc = a.acc();
                    best = m;
                    n = a.n;
                }
            }
            String name = String.format(Locale.ROOT, "best eviction method at ratio %.2f keeps ≥ %.0f %% of uncompressed "
                    + "passkey accuracy", t[0], 100 * t[1]);
            if (best == null || rows.stream().noneMatch(task("passkey"))) {
                s.append("| ").append(name).append(" | not run | — |\n");
                continue;
            }
            double baseAcc = matchedBase(rows, new KvCompressionSpec(best, t[0], 16), "passkey").acc();
            double rel = bestAcc / baseAcc;
            s.append(String.format(Locale.ROOT, "| %s | %s: %.1f %% of %.1f %% = %.1f %% (n = %d) | %s |%n", name, best,
                    100 * bestAcc, 100 * baseAcc, 100 * rel, n, rel >= t[1] ? "met"
                            : String.format(Locale.ROOT, "missed by %.1f points", 100 * (t[1] - rel))));
        }
        for (double[] t : new double[][] {{4, 1.02}, {2, 1.10}}) {
            Agg a = agg(rows, new KvCompressionSpec("none", 0, (int) t[0]), task("ppl"));
            String name = String.format(Locale.ROOT, "KIVI int%d%s PPL ratio ≤ %.2f", (int) t[0],
                    t[0] == 2 ? " (32-token full-precision residual)" : "", t[1]);
            if (a.n == 0) {
                s.append("| ").append(name).append(" | not run | — |\n");
                continue;
            }
            double r = pplRatio(rows, new KvCompressionSpec("none", 0, (int) t[0]));
            s.append(String.format(Locale.ROOT, "| %s | %.4f (%d windows) | %s |%n", name, r, a.n, r <= t[1] ? "met"
                    : String.format(Locale.ROOT, "missed by %.4f", r - t[1])));
        }
        for (int l : lengths) {
            double lo = Double.POSITIVE_INFINITY, hi = 0;
            String loM = "";
            for (String m : methods) {
                Agg a = agg(rows, new KvCompressionSpec(m, 0.5, 4), r -> r.length() == l && !r.task().equals("ppl"));
                if (a.n > 0) {
                    if (a.bytesFrac() < lo) {
                        lo = a.bytesFrac();
                        loM = m;
                    }
                    hi = Math.max(hi, a.bytesFrac());
                }
            }
            if (hi == 0) {
                continue;
            }
            s.append(String.format(Locale.ROOT, "| ratio 0.5 + int4 holds ≤ 0.1 of the uncompressed (fp32) bytes "
                    + "(0.2 of fp16), L=%d | %.3f–%.3f (lowest: %s) | %s |%n", l, lo, hi, loM, hi <= 0.1 ? "met" : lo <= 0.1
                    ? "met by some methods" : String.format(Locale.ROOT, "missed by %.3f", lo - 0.1)));
        }
        return s.toString();
    }

    static PngPlot.Series series(String name, List<double[]> pts, boolean lines) {
        pts.sort((a, b) -> Double.compare(a[0], b[0]));
        return new PngPlot.Series(name, pts.stream().mapToDouble(p -> p[0]).toArray(),
                pts.stream().mapToDouble(p -> p[1]).toArray(), lines);
    }

    static String f4(double v) {
        return Double.isNaN(v) ? "" : String.format(Locale.ROOT, "%.4f", v);
    }

    static String f3(double v) {
        return Double.isNaN(v) ? "—" : String.format(Locale.ROOT, "%.3f", v);
    }

    static String pct(double v) {
        return Double.isNaN(v) ? "—" : String.format(Locale.ROOT, "%.0f %%", 100 * v);
    }
}
