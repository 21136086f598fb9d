package io.kvpilot.eval;

import io.kvpilot.engine.EngineLoader;
import io.kvpilot.engine.EngineOptions;
import io.kvpilot.engine.batch.LlamaEngine;
import io.kvpilot.engine.model.RandomCheckpoint;
import io.kvpilot.engine.SamplingParams;
import io.kvpilot.engine.Sequence;
import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.kvcache.KvCompressor;
import io.kvpilot.kvcache.PrefillObservation;
import io.kvpilot.kvcache.SequenceKvCache;
import io.kvpilot.kvcache.press.KvMethods;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Compression cost and its effect on decoding (issue 4's benchmark; results in docs/benchmarks.md):
 * (1) compression time as a share of prefill time per method at each length; (2) decode step time of a batch of
 * contexts for a list of specs. A command, not a test:
 *
 * <pre>
 * source bench/classpath.sh
 * java -cp "$KVPILOT_CP" io.kvpilot.eval.CompressionBenchmark [--model DIR] [--lengths 1024,2048]
 *     [--methods snapkv,...] [--decode-context 2048] [--batch 8] [--steps 16] [--skip-share true]
 *     [--decode-specs none:0:16,none:0:8,...,one_int8] [--rounds 1]
 * </pre>
 * {@code --decode-specs} lists {@code method:ratio:bits} settings for the decode table ({@code one_int8}: a batch whose
 * first sequence is int8 and the rest uncompressed); {@code --rounds} repeats the whole list that many times,
 * interleaved, and prints each setting's step time against {@code none}'s of the same round.
 * Without {@code --model} it writes a random LLaMA (dim 512, 8 layers, 8 heads, 4 KV heads, FFN 1376, vocab 8192).
 */
public final class CompressionBenchmark {

    /** Decode steps before timing: with one, the first spec measured came out 50 % slower than with eight. */
    private static final int WARM_UP_STEPS = 8;

    public static void main(String[] args) throws Exception {
        Path model = null;
        int[] lengths = {1024, 2048};
        String[] methods = {"streaming_llm", "h2o", "snapkv", "pyramidkv", "tova", "knorm", "keydiff",
            "adakv_snapkv", "chunkkv_keydiff", "lowrank_keys"};
        int ctx = 2048;
        int batch = 8;
        int steps = 16;
        boolean skipShare = false;
        String decodeSpecs = "none:0:16,snapkv:0.75:16,snapkv:0.75:8,keydiff:0.75:16,keydiff:0.75:8,none:0:8";
        int rounds = 1;
        for (int i = 0; i < args.length; i += 2) {
            switch (args[i]) {
                case "--model" -> model = Path.of(args[i + 1]);
                case "--lengths" -> lengths = Arrays.stream(args[i + 1].split(",")).mapToInt(Integer::parseInt).toArray();
                case "--methods" -> methods = args[i + 1].split(",");
                case "--decode-context" -> ctx = Integer.parseInt(args[i + 1]);
                case "--batch" -> batch = Integer.parseInt(args[i + 1]);
                case "--steps" -> steps = Integer.parseInt(args[i + 1]);
                case "--skip-share" -> { skipShare = Boolean.parseBoolean(args[i + 1]); }
                case "--decode-specs" -> decodeSpecs = args[i + 1];
                case "--rounds" -> rounds = Integer.parseInt(args[i + 1]);
                default -> throw new IllegalArgumentException("unknown flag " + args[i]);
            }
        }
        if (model == null) {
            model = RandomCheckpoint.write(Files.createTempDirectory("kvbench").resolve("random"),
                    RandomCheckpoint.Spec.llama(512, 8, 8, 4, 1376, 8192).withContext(4096), 7);
            System.out.println("model: random LLaMA dim 512, 8 layers, 8 heads / 4 KV heads, FFN 1376, vocab 8192");
        }
        KvMethods registry = KvMethods.defaults(0); // the protocol: compress the context once, then score
        long[] compressNanos = new long[1];
        KvCompressor[] current = new KvCompressor[1];
        KvCompressor timed = new KvCompressor() {
            @Override
            public int observationWindow() {
                return current[0].observationWindow();
            }

            @Override
            public void afterPrefill(SequenceKvCache cache, PrefillObservation obs) {
                long t0 = System.nanoTime();
                current[0].afterPrefill(cache, obs);
                compressNanos[0] += System.nanoTime() - t0;
            }
        };
        EngineOptions options = EngineOptions.defaults().withPrefillChunkTokens(4096)
                .withCompressors(spec -> { current[0] = registry.create(spec); return timed; });
        try (LlamaEngine engine = EngineLoader.load(model, options)) {
            int vocab = engine.modelInfo().vocabSize();
            if (!skipShare) {
                System.out.println("| method | L | prefill ms | compress ms | share |");
                System.out.println("|---|---|---|---|---|");
                for (int len : lengths) {
                    int[] prompt = new Random(len).ints(len, 3, vocab).toArray();
                    run(engine, prompt, new KvCompressionSpec("none", 0, 16), compressNanos); // warm-up
                    for (String m : methods) {
                        double[] cs = new double[REPEATS];
                        double[] ps = new double[REPEATS];
                        for (int r = 0; r < REPEATS; r++) { // medians: one prefill on 2 shared cores is noisy
                            compressNanos[0] = 0;
                            long t0 = System.nanoTime();
                            run(engine, prompt, new KvCompressionSpec(m, 0.5, 16), compressNanos);
                            long total = System.nanoTime() - t0;
                            cs[r] = compressNanos[0] / 1e6;
                            ps[r] = total / 1e6 - cs[r];
                        }
                        double c = median(cs);
                        double p = median(ps);
                        System.out.printf("| %s | %d | %.0f | %.1f | %.1f %% |%n", m, len, p, c, 100 * c / p);
                    }
                }
            }
            System.out.println();
            String[] settings = decodeSpecs.split(",");
            double[][] medians = new double[rounds][settings.length];
            System.out.println("| round | setting | context | batch | KV MiB held | decode ms/step (median of " + steps
                    + ") | ÷ none, same round |");
            System.out.println("|---|---|---|---|---|---|---|");
            for (int round = 0; round < rounds; round++) {
                for (int c = 0; c < settings.length; c++) {
                    List<Sequence> seqs = new ArrayList<>();
                    for (int b = 0; b < batch; b++) {
                        int[] prompt = new Random(100 + b).ints(ctx, 3, vocab).toArray();
                        Sequence s = engine.newSequence("b" + b, prompt, new SamplingParams(0, 1, 0, 1L,
                                steps + WARM_UP_STEPS + 4, List.of(), true), decodeSpec(settings[c], b));
                        engine.prefill(List.of(s));
                        seqs.add(s);
                    }
                    for (int i = 0; i < WARM_UP_STEPS; i++) { // the first spec measured also pays the JIT's first steps
                        engine.decode(seqs);
                    }
                    long[] t = new long[steps];
                    for (int i = 0; i < steps; i++) {
                        long t0 = System.nanoTime();
                        engine.decode(seqs);
                        t[i] = System.nanoTime() - t0;
                    }
                    Arrays.sort(t);
                    medians[round][c] = t[steps / 2] / 1e6;
                    System.out.printf("| %d | %s | %d | %d | %.1f | %.1f | %.2f |%n", round + 1, settings[c], ctx, batch,
                            engine.kvBytesInUse() / 1048576.0, medians[round][c],
                            medians[round][c] / medians[round][0]);
                    seqs.forEach(engine::release);
                }
            }
            System.out.println();
            System.out.println("| setting | median ms/step over rounds | median of same-round ratios to " + settings[0]
                    + " |");
            System.out.println("|---|---|---|");
            for (int c = 0; c < settings.length; c++) {
                double[] ms = new double[rounds];
                double[] ratios = new double[rounds];
                for (int r = 0; r < rounds; r++) {
                    ms[r] = medians[r][c];
                    ratios[r] = medians[r][c] / medians[r][0];
                }
                System.out.printf("| %s | %.1f | %.2f |%n", settings[c], median(ms), median(ratios));
            }
        }
    }

    /** A decode setting's spec for batch member {@code b}: {@code method:ratio:bits}, or {@code one_int8}. */
    private static KvCompressionSpec decodeSpec(String setting, int b) {
        if (setting.equals("one_int8")) {
            return b == 0 ? new KvCompressionSpec("none", 0, 8) : new KvCompressionSpec("none", 0, 16);
        }
        String[] p = setting.split(":");
        return new KvCompressionSpec(p[0], Double.parseDouble(p[1]), Integer.parseInt(p[2]));
    }

    private static final int REPEATS = 5;

    private static double median(double[] x) {
        double[] sorted = x.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }

    private static void run(LlamaEngine engine, int[] prompt, KvCompressionSpec spec, long[] unused) {
        Sequence s = engine.newSequence("p", prompt, SamplingParams.greedy(1), spec);
        engine.prefill(List.of(s));
        engine.release(s);
    }
}
