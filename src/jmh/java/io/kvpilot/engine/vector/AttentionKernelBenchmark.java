package io.kvpilot.engine.vector;

import static io.kvpilot.engine.vector.QuantizedAttentionKernelTest.halves;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Random;

/**
 * One head group's decode attention (one KV head and the query heads that share it) over {@code n} entries, in each
 * store layout the Java forward pass reads in place: dense fp32, int8 and KIVI at 4 and 2 bits, with kvpilot-mini's
 * shapes by default (head dim 64, 3 query heads per KV head; KIVI groups of 32 and a residual of 32, as
 * {@code KvFormat} builds them). Prints the median ns of CPU time per entry of several timed rounds for each
 * (dense, int8, int4, int2, or those named in the fifth argument), all in one JVM with the rounds interleaved. A plain
 * main rather than JMH: one call is 0.3-1.5 ms, so a timed loop of calls needs no harness, and it runs on any JDK with
 * only the compiled classes on the class path.
 *
 * <pre>
 * mvn -B -q -Pjmh -DskipTests test-compile
 * java --add-modules jdk.incubator.vector -cp target/classes:target/test-classes \
 *     io.kvpilot.engine.vector.AttentionKernelBenchmark [n] [headDim] [groups] [rounds] [dense,int8,int4,int2]
 * </pre>
 */
public final class AttentionKernelBenchmark {

    private static final ByteOrder ORDER = ByteOrder.nativeOrder();

    private AttentionKernelBenchmark() {}

    public static void main(String[] args) {
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 2000;
        int e = args.length > 1 ? Integer.parseInt(args[1]) : 64;
        int groups = args.length > 2 ? Integer.parseInt(args[2]) : 3;
        int rounds = args.length > 3 ? Integer.parseInt(args[3]) : 7;
        String only = args.length > 4 ? args[4] : "dense,int8,int4,int2"; // which kernels to time
        Random random = new Random(42);
        float[] q = new float[groups * e];
        for (int i = 0; i < q.length; i++) {
            q[i] = (float) random.nextGaussian() * 0.125f;
        }
        float[] out = new float[groups * e];
        float[] scores = new float[3 * n];
        float[] scratch = new float[7 * e];

        ByteBuffer keys = floats(random, n * e);
        ByteBuffer values = floats(random, n * e);
        ByteBuffer[] int8 = {bytes(random, n * e, 8), floats(random, n), bytes(random, n * e, 8), floats(random, n)};
        Runnable dense = () -> VectorAttention.attend(q, 0, keys, values, n, n, 1, groups, e, out, 0, scores);
        Runnable int8Kernel = () -> VectorAttention.attendInt8(q, 0, int8, n, n, 1, groups, e, out, 0, scores, null);
        Runnable kivi4 = kivi(random, 4, n, e, groups, q, out, scores, scratch);
        Runnable kivi2 = kivi(random, 2, n, e, groups, q, out, scores, scratch);

        String[] all = {"dense", "int8", "int4", "int2"};
        Runnable[] every = {dense, int8Kernel, kivi4, kivi2};
        java.util.List<String> picked = java.util.Arrays.asList(only.split(","));
        String[] names = java.util.Arrays.stream(all).filter(picked::contains).toArray(String[]::new);
        Runnable[] kernels = java.util.stream.IntStream.range(0, all.length).filter(i -> picked.contains(all[i]))
                .mapToObj(i -> every[i]).toArray(Runnable[]::new);
        for (Runnable kernel : kernels) { // until C2 has compiled each kernel
            timeCalls(kernel, 2_000_000_000L);
        }
        double[][] nsPerEntry = new double[kernels.length][rounds];
        for (int r = 0; r < rounds; r++) { // interleaved, so a burst of load hits every kernel alike
            for (int k = 0; k < kernels.length; k++) {
                nsPerEntry[k][r] = timeCalls(kernels[k], 300_000_000L) / n;
            }
        }
        System.out.printf("java %s, n=%d, head dim %d, %d query heads per KV head, %d rounds%n",
                System.getProperty("java.version"), n, e, groups, rounds);
        double base = median(nsPerEntry[0]);
        for (int k = 0; k < kernels.length; k++) {
            double m = median(nsPerEntry[k]);
            Arrays.sort(nsPerEntry[k]);
            System.out.printf("%-6s %8.2f ns/entry (min %7.2f, max %7.2f)  %.2fx the first%n", names[k], m,
                    nsPerEntry[k][0], nsPerEntry[k][rounds - 1], m / base);
        }
    }

    private static Runnable kivi(Random random, int bits, int n, int e, int groups, float[] q, float[] out,
            float[] scores, float[] scratch) {
        int g = 32; // KvFormat's KIVI: groups of 32, residual 32 (KiviKvStore.quantizedAt's arithmetic, without DJL)
        int residual = 32;
        int quantized = n - residual < g ? 0 : (n - residual) / g * g;
        int cap = Math.max(g, quantized);
        int window = residual + g;
        int packed = e * bits / 8;
        ByteBuffer[] store = {
            bytes(random, cap * packed, 8), halves(random, cap / g * e, 0.05f), halves(random, cap / g * e, 1f),
            bytes(random, cap * packed, 8), halves(random, cap * e / g, 0.05f), halves(random, cap * e / g, 1f),
            halves(random, window * e, 1f), halves(random, window * e, 1f)
        };
        return () -> VectorAttention.attendKivi(q, 0, store, cap, quantized, window, bits, g, n, 1, groups, e, out, 0,
                scores, scratch, null);
    }

    /**
     * Mean ns of this thread's CPU time per call of {@code kernel}, run for about {@code budgetNs} of it: CPU time,
     * not wall time, since the development VM's 2 cores are shared and a wall-clock figure mostly measures the load.
     */
    private static double timeCalls(Runnable kernel, long budgetNs) {
        java.lang.management.ThreadMXBean threads = java.lang.management.ManagementFactory.getThreadMXBean();
        long start = threads.getCurrentThreadCpuTime();
        long calls = 0;
        long now;
        do {
            for (int i = 0; i < 64; i++) {
                kernel.run();
            }
            calls += 64;
            now = threads.getCurrentThreadCpuTime();
        } while (now - start < budgetNs);
        return (double) (now - start) / calls;
    }

    private static double median(double[] xs) {
        double[] s = xs.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    private static ByteBuffer floats(Random random, int count) {
        ByteBuffer b = ByteBuffer.allocateDirect(count * Float.BYTES).order(ORDER);
        for (int i = 0; i < count; i++) {
            b.putFloat(i * Float.BYTES, (float) random.nextGaussian() * 0.5f);
        }
        return b;
    }

    private static ByteBuffer bytes(Random random, int count, int bits) {
        ByteBuffer b = ByteBuffer.allocateDirect(count).order(ORDER);
        for (int i = 0; i < count; i++) {
            b.put(i, (byte) random.nextInt(1 << bits));
        }
        return b;
    }
}
