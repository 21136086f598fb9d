package io.kvpilot.engine.vector;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The in-place decode attention against softmax(q·Kᵀ)·V written out plainly, on shapes with vector tails. */
class VectorAttentionTest {

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
