package io.kvpilot.engine.vector;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvpilot.kvcache.quant.Half;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The int8 and KIVI decode kernels against a plain double-precision reference that dequantizes every entry of the
 * same buffers and attends over them: each layout path (32-byte words, and the byte-per-lane path for the rest), GQA
 * groups of 1 to 7 query heads, entries inside the KIVI window and not.
 */
class QuantizedAttentionKernelTest {

    private static final ByteOrder ORDER = ByteOrder.nativeOrder();

    @ParameterizedTest(name = "head dim {0}, {1} kv heads x {2} query heads, n {3}")
    @CsvSource({"64,2,3,70", "32,1,4,33", "96,2,2,9", "8,1,1,5", "40,2,3,17", "64,3,1,41", "128,1,7,20"})
    void int8MatchesDequantizedReference(int e, int kvHeads, int groups, int n) {
        Random random = new Random(e * 31L + n);
        int cap = n + 3;
        ByteBuffer[] store = {codes(random, kvHeads * cap * e, 256), floats(random, kvHeads * cap, 0.02f),
            codes(random, kvHeads * cap * e, 256), floats(random, kvHeads * cap, 0.02f)};
        float[] q = gaussians(random, 2 + kvHeads * groups * e);
        float[] out = new float[3 + kvHeads * groups * e];
        VectorAttention.attendInt8(q, 2, store, cap, n, kvHeads, groups, e, out, 3, new float[3 * n], null);
        double[][] keys = new double[kvHeads * cap][e];
        double[][] values = new double[kvHeads * cap][e];
        for (int r = 0; r < kvHeads * cap; r++) {
            for (int c = 0; c < e; c++) {
                keys[r][c] = store[0].get(r * e + c) * (double) store[1].getFloat(r * Float.BYTES);
                values[r][c] = store[2].get(r * e + c) * (double) store[3].getFloat(r * Float.BYTES);
            }
        }
        assertMatches(q, 2, keys, values, cap, n, kvHeads, groups, e, out, 3);
    }

    @ParameterizedTest(name = "{1} bits, head dim {0}, {2} kv heads x {3} query heads, n {4}")
    @CsvSource({"64,4,2,3,2000", "64,4,2,3,70", "64,2,2,3,130", "128,2,1,4,100", "128,4,1,2,64", "64,4,1,1,40",
        "32,4,1,3,90"})
    void kiviMatchesDequantizedReference(int e, int bits, int kvHeads, int groups, int n) {
        int g = 32;
        int residual = 32;
        int quantized = n - residual < g ? 0 : (n - residual) / g * g; // as KiviKvStore.quantizedAt
        assertKiviMatches(e, bits, g, kvHeads, groups, n, quantized);
    }

    /**
     * The 32-byte-word kernel in each of its layouts: rows of one word (int4 at head dim 64, int2 at 128), two words
     * (int4 at 128) and half a word, two tokens a word (int2 at 64), for 1 to 7 query heads per KV head (whole groups of
     * three and the rest), value groups of 32 and 64 channels.
     */
    @ParameterizedTest(name = "{1} bits, head dim {0}, group {2}, {3} query heads")
    @MethodSource("wordLayouts")
    void kiviWordKernelMatchesDequantizedReference(int e, int bits, int g, int groups) {
        assertThat(VectorAttention.kiviWordsFit(e, bits, g)).isTrue();
        int n = 3 * g + 45; // three quantized groups and a window of 45
        assertKiviMatches(e, bits, g, 2, groups, n, 3 * g);
    }

    static Stream<Arguments> wordLayouts() {
        Stream.Builder<Arguments> layouts = Stream.builder();
        for (int[] layout : new int[][] {{64, 4, 32}, {64, 2, 32}, {128, 4, 32}, {128, 2, 32}, {128, 4, 64}}) {
            for (int groups = 1; groups <= 7; groups++) {
                layouts.add(Arguments.of(layout[0], layout[1], layout[2], groups));
            }
        }
        return layouts.build();
    }

    /**
     * Fewer entries than quantized tokens (a part chunk of value scales, a key group cut short), an even count (the
     * word kernel) and an odd one (the byte-per-lane path, since a word of two tokens would be cut in half).
     */
    @ParameterizedTest(name = "{1} bits, head dim {0}, n {2} of 96 quantized")
    @CsvSource({"64,4,50", "64,2,50", "128,4,70", "64,2,51", "64,4,51"})
    void kiviMatchesReferenceOverPartOfTheQuantizedTokens(int e, int bits, int n) {
        assertKiviMatches(e, bits, 32, 1, 3, n, 96);
    }

    private static void assertKiviMatches(int e, int bits, int g, int kvHeads, int groups, int n, int quantized) {
        Random random = new Random(e * 7L + bits * 131L + n + groups * 977L + g);
        int residual = 32;
        int cap = Math.max(g, quantized);
        int window = residual + g;
        int packed = e * bits / 8;
        ByteBuffer[] store = {codes(random, kvHeads * cap * packed, 256), halves(random, kvHeads * cap / g * e, 0.05f),
            halves(random, kvHeads * cap / g * e, 1f), codes(random, kvHeads * cap * packed, 256),
            halves(random, kvHeads * cap * e / g, 0.05f), halves(random, kvHeads * cap * e / g, 1f),
            halves(random, kvHeads * window * e, 1f), halves(random, kvHeads * window * e, 1f)};
        assertThat(VectorAttention.kiviLayoutFits(e, bits, g)).isTrue();
        float[] q = gaussians(random, 1 + kvHeads * groups * e);
        float[] out = new float[kvHeads * groups * e];
        VectorAttention.attendKivi(q, 1, store, cap, quantized, window, bits, g, n, kvHeads, groups, e, out, 0,
                new float[3 * n], new float[7 * e], null);
        int per = 8 / bits;
        int mask = (1 << bits) - 1;
        // the reference's rows: kv head h, entry j at h * cap + j (window entries too, cap >= n here)
        int rows = Math.max(cap, n);
        double[][] keys = new double[kvHeads * rows][e];
        double[][] values = new double[kvHeads * rows][e];
        for (int h = 0; h < kvHeads; h++) {
            for (int j = 0; j < n; j++) {
                for (int c = 0; c < e; c++) {
                    double k;
                    double v;
                    if (j < quantized) {
                        int slot = h * cap + j;
                        int kCode = (store[0].get(slot * packed + c / per) >> (bits * (c % per))) & mask;
                        int vCode = (store[3].get(slot * packed + c / per) >> (bits * (c % per))) & mask;
                        int kParam = ((h * cap + j) / g * e + c) * 2;
                        int vParam = (slot * (e / g) + c / g) * 2;
                        k = kCode * (double) Half.toFloat(store[1].getShort(kParam))
                                + Half.toFloat(store[2].getShort(kParam));
                        v = vCode * (double) Half.toFloat(store[4].getShort(vParam))
                                + Half.toFloat(store[5].getShort(vParam));
                    } else {
                        int at = ((h * window + j - quantized) * e + c) * 2;
                        k = Half.toFloat(store[6].getShort(at));
                        v = Half.toFloat(store[7].getShort(at));
                    }
                    keys[h * rows + j][c] = k;
                    values[h * rows + j][c] = v;
                }
            }
        }
        assertMatches(q, 1, keys, values, rows, n, kvHeads, groups, e, out, 0);
    }

    private static void assertMatches(float[] q, int qOff, double[][] keys, double[][] values, int rows, int n,
            int kvHeads, int groups, int e, float[] out, int outOff) {
        for (int h = 0; h < kvHeads * groups; h++) {
            int base = h / groups * rows;
            double[] s = new double[n];
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < n; j++) {
                for (int c = 0; c < e; c++) {
                    s[j] += q[qOff + h * e + c] * keys[base + j][c];
                }
                max = Math.max(max, s[j]);
            }
            double sum = 0;
            for (int j = 0; j < n; j++) {
                s[j] = Math.exp(s[j] - max);
                sum += s[j];
            }
            for (int c = 0; c < e; c++) {
                double expected = 0;
                for (int j = 0; j < n; j++) {
                    expected += s[j] / sum * values[base + j][c];
                }
                assertThat((double) out[outOff + h * e + c]).as("head %d channel %d", h, c)
                        .isCloseTo(expected, org.assertj.core.api.Assertions.within(1e-4 + 1e-4 * Math.abs(expected)));
            }
        }
    }

    private static float[] gaussians(Random random, int count) {
        float[] xs = new float[count];
        for (int i = 0; i < count; i++) {
            xs[i] = (float) random.nextGaussian() * 0.2f;
        }
        return xs;
    }

    private static ByteBuffer codes(Random random, int count, int bound) {
        ByteBuffer b = ByteBuffer.allocateDirect(count).order(ORDER);
        for (int i = 0; i < count; i++) {
            b.put(i, (byte) random.nextInt(bound));
        }
        return b;
    }

    private static ByteBuffer floats(Random random, int count, float magnitude) {
        ByteBuffer b = ByteBuffer.allocateDirect(count * Float.BYTES).order(ORDER);
        for (int i = 0; i < count; i++) {
            b.putFloat(i * Float.BYTES, magnitude * (0.5f + random.nextFloat()));
        }
        return b;
    }

    /** {@code count} fp16 values, gaussian times {@code magnitude}: a KIVI window or scales (also the kernel benchmark's). */
    static ByteBuffer halves(Random random, int count, float magnitude) {
        ByteBuffer b = ByteBuffer.allocateDirect(count * Short.BYTES).order(ORDER);
        for (int i = 0; i < count; i++) {
            b.putShort(i * Short.BYTES, Half.fromFloat((float) random.nextGaussian() * magnitude));
        }
        return b;
    }
}
