package io.kvpilot.engine.vector;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.kvpilot.kvcache.HeadPadding;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The in-place decode attention against softmax(q·Kᵀ)·V written out plainly, on shapes with vector tails; over
 * head-ragged stores (padded slots hold huge values, so reading one shows) and low-rank keys.
 */
class VectorAttentionTest {

    static ByteBuffer buffer(int floats) {
        return ByteBuffer.allocateDirect(floats * 4).order(ByteOrder.nativeOrder());
    }

    static ByteBuffer gaussians(Random random, int floats) {
        ByteBuffer b = buffer(floats);
        for (int i = 0; i < floats; i++) {
            b.putFloat(i * 4, (float) random.nextGaussian());
        }
        return b;
    }

    /**
     * softmax over the visible slots of {@code q·key(kh, j)}, times the values {@code [K, cap, e]}; a slot in
     * {@code pad}'s range is not visible.
     */
    static double[] plain(float[] q, int qOff, java.util.function.BiFunction<Integer, Integer, float[]> key,
            ByteBuffer values, int cap, int n, int kh, int e, HeadPadding pad) {
        double[] p = new double[n];
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < n; j++) {
            if (pad != null && j >= pad.from()[kh] && j < pad.to()) {
                continue;
            }
            float[] k = key.apply(kh, j);
            for (int c = 0; c < e; c++) {
                p[j] += q[qOff + c] * k[c];
            }
            max = Math.max(max, p[j]);
        }
        double sum = 0;
        for (int j = 0; j < n; j++) {
            boolean padded = pad != null && j >= pad.from()[kh] && j < pad.to();
            p[j] = padded ? 0 : Math.exp(p[j] - max);
            sum += p[j];
        }
        double[] out = new double[e];
        for (int j = 0; j < n; j++) {
            for (int c = 0; c < e; c++) {
                out[c] += p[j] / sum * values.getFloat(((kh * cap + j) * e + c) * 4);
            }
        }
        return out;
    }

    @Test
    void paddedSlotsOfAHeadRaggedStoreAreNeverRead() {
        Random random = new Random(5);
        int kvHeads = 3, groups = 2, e = 20, n = 30, cap = 40, heads = kvHeads * groups;
        HeadPadding pad = new HeadPadding(new int[] {10, 16, 4}, 16); // head 1 unpadded, head 2 mostly padding
        ByteBuffer keys = gaussians(random, kvHeads * cap * e);
        ByteBuffer values = gaussians(random, kvHeads * cap * e);
        for (int kh = 0; kh < kvHeads; kh++) {
            for (int j = pad.from()[kh]; j < pad.to(); j++) {
                for (int c = 0; c < e; c++) {
                    keys.putFloat(((kh * cap + j) * e + c) * 4, 1e4f);
                    values.putFloat(((kh * cap + j) * e + c) * 4, 1e4f);
                }
            }
        }
        float[] q = new float[heads * e];
        for (int i = 0; i < q.length; i++) {
            q[i] = (float) random.nextGaussian();
        }
        float[] out = new float[heads * e];
        float[] probs = new float[heads * n];
        VectorAttention.attend(q, 0, keys, values, cap, n, kvHeads, groups, e, out, 0, new float[n], probs, 0, n, pad);
        for (int h = 0; h < heads; h++) {
            int kh = h / groups;
            double[] expected = plain(q, h * e, (head, j) -> row(keys, (head * cap + j) * e, e), values, cap, n, kh, e,
                    pad);
            for (int c = 0; c < e; c++) {
                assertThat((double) out[h * e + c]).as("head %d dim %d", h, c).isCloseTo(expected[c], within(1e-4));
            }
            for (int j = pad.from()[kh]; j < pad.to(); j++) {
                assertThat(probs[h * n + j]).as("no probability on padded slot %d of head %d", j, h).isZero();
            }
        }
    }

    @Test
    void blockedKernelGivesThePerHeadKernelsBits() {
        Random random = new Random(11);
        // head dims of one to four blocks; one to seven query heads per KV head (triples, a pair, a single left over)
        for (int[] shape : new int[][] {{2, 3, 64, 37}, {1, 1, 64, 41}, {3, 2, 32, 9}, {2, 7, 128, 20}, {1, 4, 96, 1}}) {
            int kvHeads = shape[0], groups = shape[1], e = shape[2], n = shape[3], cap = n + 5, heads = kvHeads * groups;
            HeadPadding padded = n < 3 ? null : new HeadPadding(paddingFrom(kvHeads, n - 1), n - 1);
            for (HeadPadding pad : new HeadPadding[] {null, padded}) {
                ByteBuffer keys = gaussians(random, kvHeads * cap * e);
                ByteBuffer values = gaussians(random, kvHeads * cap * e);
                float[] q = new float[2 + heads * e];
                for (int i = 0; i < q.length; i++) {
                    q[i] = (float) random.nextGaussian();
                }
                float[] blocked = new float[1 + heads * e];
                float[] perHead = new float[1 + heads * e];
                float[] blockedProbs = new float[heads * n];
                float[] perHeadProbs = new float[heads * n];
                VectorAttention.attend(q, 2, keys, values, cap, n, kvHeads, groups, e, blocked, 1, new float[3 * n],
                        blockedProbs, 0, n, pad);
                VectorAttention.attendPerHead(q, 2, keys, values, cap, n, kvHeads, groups, e, perHead, 1,
                        new float[3 * n], perHeadProbs, 0, n, pad);
                assertThat(blocked).as("shape %s, padded %s", Arrays.toString(shape), pad != null)
                        .containsExactly(perHead);
                assertThat(blockedProbs).containsExactly(perHeadProbs);
            }
        }
    }

    /** Each KV head's padding from somewhere in {@code [1, to)} up to slot {@code to}, the last head unpadded. */
    private static int[] paddingFrom(int kvHeads, int to) {
        int[] from = new int[kvHeads];
        for (int kh = 0; kh < kvHeads; kh++) {
            from[kh] = kh == kvHeads - 1 ? to : 1 + (kh * 7 + to / 3) % (to - 1);
        }
        return from;
    }

    @Test
    void lowRankScoresAreTheProjectedQueryDotTheCoefficients() {
        Random random = new Random(7);
        for (int rank : new int[] {16, 5, 13}) { // whole vectors, below one, a tail
            // head dim 64: values summed by the blocked kernel (three query heads a pass); 24: head by head
            int kvHeads = 2, groups = 3, e = rank == 5 ? 24 : 64, n = 21, cap = 32, heads = kvHeads * groups;
            HeadPadding pad = rank == 13 ? new HeadPadding(new int[] {7, 12}, 12) : null;
            ByteBuffer basis = gaussians(random, kvHeads * e * rank);
            ByteBuffer coeff = gaussians(random, kvHeads * cap * rank);
            ByteBuffer values = gaussians(random, kvHeads * cap * e);
            float[] q = new float[3 + heads * e];
            for (int i = 0; i < q.length; i++) {
                q[i] = (float) random.nextGaussian();
            }
            float[] out = new float[heads * e];
            VectorAttention.attendLowRank(q, 3, new ByteBuffer[] {basis, coeff, values}, cap, rank, n, kvHeads, groups,
                    e, out, 0, new float[3 * n], new float[rank], pad);
            java.util.function.BiFunction<Integer, Integer, float[]> key = (kh, j) -> { // c Uᵀ
                float[] k = new float[e];
                for (int c = 0; c < e; c++) {
                    for (int r = 0; r < rank; r++) {
                        k[c] += coeff.getFloat(((kh * cap + j) * rank + r) * 4) * basis.getFloat(((kh * e + c) * rank + r) * 4);
                    }
                }
                return k;
            };
            for (int h = 0; h < heads; h++) {
                double[] expected = plain(q, 3 + h * e, key, values, cap, n, h / groups, e, pad);
                for (int c = 0; c < e; c++) {
                    assertThat((double) out[h * e + c]).as("rank %d head %d dim %d", rank, h, c)
                            .isCloseTo(expected[c], within(1e-3));
                }
            }
        }
    }

    static float[] row(ByteBuffer b, int at, int e) {
        float[] r = new float[e];
        for (int c = 0; c < e; c++) {
            r[c] = b.getFloat((at + c) * 4);
        }
        return r;
    }

    @Test
    void matchesPlainAttentionWithGqaAndTails() {
        Random random = new Random(3);
        // head dims with and without an 8-wide tail; entry counts below, at and past a vector; capacity above them
        for (int[] shape : new int[][] {{2, 3, 64, 37}, {1, 4, 12, 5}, {3, 1, 8, 8}, {2, 2, 20, 1}}) {
            int kvHeads = shape[0], groups = shape[1], e = shape[2], n = shape[3], cap = n + 7;
            ByteBuffer keys = ByteBuffer.allocateDirect(kvHeads * cap * e * 4).order(ByteOrder.nativeOrder());
            ByteBuffer values = ByteBuffer.allocateDirect(kvHeads * cap * e * 4).order(ByteOrder.nativeOrder());
            for (int i = 0; i < kvHeads * cap * e; i++) {
                keys.putFloat(i * 4, (float) random.nextGaussian());
                values.putFloat(i * 4, (float) random.nextGaussian());
            }
            int heads = kvHeads * groups;
            float[] q = new float[5 + heads * e]; // at an offset, as rows of a batch are
            for (int i = 0; i < q.length; i++) {
                q[i] = (float) random.nextGaussian();
            }
            float[] out = new float[3 + heads * e];
            VectorAttention.attend(q, 5, keys, values, cap, n, kvHeads, groups, e, out, 3, new float[n]);

            for (int h = 0; h < heads; h++) {
                int base = (h / groups) * cap * e;
                double[] p = new double[n];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < n; j++) {
                    for (int c = 0; c < e; c++) {
                        p[j] += q[5 + h * e + c] * keys.getFloat((base + j * e + c) * 4);
                    }
                    max = Math.max(max, p[j]);
                }
                double sum = 0;
                for (int j = 0; j < n; j++) {
                    p[j] = Math.exp(p[j] - max);
                    sum += p[j];
                }
                for (int c = 0; c < e; c++) {
                    double expected = 0;
                    for (int j = 0; j < n; j++) {
                        expected += p[j] / sum * values.getFloat((base + j * e + c) * 4);
                    }
                    assertThat((double) out[3 + h * e + c]).as("shape %s head %d dim %d", java.util.Arrays.toString(
                            shape), h, c).isCloseTo(expected, within(1e-4));
                }
            }
        }
    }
}
