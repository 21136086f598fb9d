package io.kvpilot.engine;

import io.kvpilot.engine.batch.LlamaEngine;
import io.kvpilot.engine.model.RandomCheckpoint;
import io.kvpilot.kvcache.KvCompressionSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Engine benchmark (a command, not a test): prefill tokens/s at 128 and 1,024 prompt tokens, decode tokens/s at
 * batch 1, 4 and 16 after 32- and 1,024-token prompts, KV bytes per token, RSS after loading, peak RSS. Medians over
 * repeated runs.
 *
 * <pre>
 * source bench/classpath.sh
 * OMP_WAIT_POLICY=PASSIVE java --add-modules jdk.incubator.vector -cp "$KVPILOT_CP" io.kvpilot.engine.EngineBenchmark \
 *     [--model DIR] [--threads N | --prefill-threads N --decode-threads N] [--chunk TOKENS] [--batches 1,4,16] [--prompts 32,1024] [--no-prefill] [--quick]
 * </pre>
 *
 * Without {@code --model} it writes (once) a random LLaMA of ~110M parameters (dim 768, 12 layers, 12 heads, FFN 2048,
 * vocab 32000, fp32) under {@code bench/out/llama-110m} and runs on that.
 */
public final class EngineBenchmark {

    public static void main(String[] args) throws Exception {
        Path model = null;
        int threads = 0;
        int decodeThreads = 0;
        int chunk = EngineOptions.defaults().prefillChunkTokens();
        boolean quick = false;
        List<Integer> batches = List.of(1, 4, 16);
        List<Integer> prompts = List.of(32, 1024);
        boolean prefill = true;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--model" -> model = Path.of(args[++i]);
                case "--threads" -> threads = decodeThreads = Integer.parseInt(args[++i]);
                case "--prefill-threads" -> threads = Integer.parseInt(args[++i]);
                case "--decode-threads" -> decodeThreads = Integer.parseInt(args[++i]);
                case "--quick" -> quick = true;
                case "--chunk" -> chunk = Integer.parseInt(args[++i]);
                case "--prompts" -> prompts = Arrays.stream(args[++i].split(",")).map(Integer::valueOf).toList();
                case "--no-prefill" -> prefill = false;
                case "--batches" -> batches = Arrays.stream(args[++i].split(",")).map(Integer::valueOf).toList();
                default -> throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        if (model == null) {
            model = Path.of("bench/out/llama-110m");
            if (!Files.exists(model.resolve("model.safetensors"))) {
                System.out.println("writing random 110M LLaMA to " + model);
                RandomCheckpoint.write(model, RandomCheckpoint.Spec.llama(768, 12, 12, 12, 2048, 32000), 42);
            }
        }
        long t0 = System.nanoTime();
        try (LlamaEngine engine = EngineLoader.load(model, EngineOptions.defaults().withThreads(threads)
                .withDecodeThreads(decodeThreads).withPrefillChunkTokens(chunk))) {
            ModelInfo info = engine.modelInfo();
            System.out.printf("model %s (%s): %.1fM params, %d layers, kv heads %d, head dim %d, threads prefill %d"
                            + " decode %d, batched decode products on %s, load %.1f s%n", info.id(), info.architecture(),
                    info.parameterCount() / 1e6, info.layers(), info.kvHeads(), info.headDim(), engine.threads()[0],
                    engine.threads()[1], engine.packedMatmul() ? "the packed Vector API kernel" : "libtorch",
                    (System.nanoTime() - t0) / 1e9);
            System.out.printf("KV bytes per token: %d (%d per layer)%n", info.kvBytesPerToken(),
                    info.kvBytesPerToken() / info.layers());
            System.out.printf("after load: RSS %.0f MiB, %s%n", rssKib() / 1024.0, javaHeap());
            int reps = quick ? 2 : 5;
            for (int len : new int[] {128, 1024}) {
                if (!prefill || len >= info.contextLength()) {
                    continue;
                }
                double[] tps = new double[reps];
                for (int r = 0; r < 3; r++) { // untimed: the first passes of a length pay for JIT compilation
                    Sequence s = seq(engine, len, 1, 100 + r);
                    engine.prefill(List.of(s));
                    engine.release(s);
                }
                for (int r = 0; r < reps; r++) {
                    Sequence s = seq(engine, len, 1, r);
                    long a = System.nanoTime();
                    engine.prefill(List.of(s));
                    tps[r] = len / ((System.nanoTime() - a) / 1e9);
                    engine.release(s);
                }
                System.out.printf("prefill %5d tokens: %7.1f tokens/s (median of %d)%n", len, median(tps), reps);
            }
            // steady state, as a server runs: the first decode steps of a process pay for JIT compilation and the
            // allocator's first growth (measured: batch-16 steps 36.8 → 32.4 ms over the first three batches)
            Sequence warm = seq(engine, 32, 66, 7);
            engine.prefill(List.of(warm));
            for (int i = 0; i < 64; i++) {
                engine.decode(List.of(warm));
            }
            engine.release(warm);
            for (int promptLen : prompts) {
                for (int b : batches) {
                    if (promptLen + 40 >= info.contextLength()) {
                        continue;
                    }
                    int steps = quick ? 12 : 32;
                    List<Sequence> batch = new ArrayList<>();
                    for (int i = 0; i < b; i++) {
                        batch.add(seq(engine, promptLen, steps + 3, 100 + i));
                    }
                    engine.prefill(batch);
                    engine.decode(batch); // untimed: the first step after a prefill also grows the caches' buffers
                    double[] stepSeconds = new double[steps];
                    for (int i = 0; i < steps; i++) {
                        long a = System.nanoTime();
                        engine.decode(batch);
                        stepSeconds[i] = (System.nanoTime() - a) / 1e9;
                    }
                    double m = median(stepSeconds);
                    double best = Arrays.stream(stepSeconds).min().orElse(m);
                    System.out.printf("decode after %4d tokens, batch %2d: %7.1f tokens/s aggregate, %6.1f ms/step"
                            + " (best step %.1f ms)%n", promptLen, b, b / m, m * 1e3, best * 1e3);
                    batch.forEach(engine::release);
                }
            }
            System.out.printf("KV bytes in use after release: %d; peak KV bytes %d%n", engine.kvBytesInUse(),
                    engine.kvPool().peakBytesInUse());
        }
        System.out.printf("peak RSS: %.0f MiB (at the end: %s)%n", peakRssKib() / 1024.0, javaHeap());
    }

    /** The Java heap's share of RSS, roughly: what it has committed (its live objects are part of that). */
    private static String javaHeap() {
        Runtime rt = Runtime.getRuntime();
        return String.format("Java heap %.0f MiB used of %.0f MiB committed",
                (rt.totalMemory() - rt.freeMemory()) / 1048576.0, rt.totalMemory() / 1048576.0);
    }

    private static Sequence seq(LlamaEngine engine, int len, int maxTokens, long seed) {
        Random r = new Random(seed);
        int[] ids = new int[len];
        for (int i = 0; i < len; i++) {
            ids[i] = 3 + r.nextInt(engine.modelInfo().vocabSize() - 3);
        }
        return engine.newSequence("bench-" + seed, ids, new SamplingParams(0, 1, 0, 0L, maxTokens, List.of(), true),
                KvCompressionSpec.NONE);
    }

    static double median(double[] xs) {
        double[] s = xs.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    /** VmHWM of this process in KiB (Linux), or -1. */
    static long peakRssKib() {
        return procStatus("VmHWM:");
    }

    /** VmRSS of this process in KiB (Linux), or -1. */
    public static long rssKib() {
        return procStatus("VmRSS:");
    }

    private static long procStatus(String key) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith(key)) {
                    return Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
        } catch (Exception e) {
            return -1;
        }
        return -1;
    }
}
