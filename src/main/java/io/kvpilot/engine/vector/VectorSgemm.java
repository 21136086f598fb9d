package io.kvpilot.engine.vector;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@code y = x·Wᵀ} for a few rows of {@code x}, with {@code W} packed once into panels of 16 output columns
 * ({@code [panels][in][16]}, see {@link PackedMatmul}); the inner loop broadcasts one input value per row and does two
 * 8-wide fused multiply-adds per row into accumulators that stay in registers (4 rows × 16 columns = 8 of AVX2's 16).
 * The panel is streamed once per block of 4 rows, k-blocked by {@link #K_BLOCK} so the re-reads hit L1/L2. Each block
 * of 4 rows reads its inputs interleaved ({@link #interleave}: the 4 values of one input side by side), so the loop
 * addresses them from one index; with four row offsets C2 ran out of registers and spilled in the inner loop
 * (measured on the 110M model's products at 16 rows, one core: 72–77 vs 56–61 GFLOP/s). Only this class touches the
 * incubating Vector API; {@link PackedMatmul} loads it when the module is there.
 */
final class VectorSgemm {

    static final int PANEL = 16;
    /** Inputs per block: a 512 × 16 float block of a panel is 32 KiB, the 4 row groups re-read it from L1/L2. */
    static final int K_BLOCK = 512;
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_256;

    private VectorSgemm() {}

    /** Whether this CPU runs {@link #S} as real vectors (AVX2 or wider), not as the Vector API's emulation. */
    static boolean hardwareFits() {
        return FloatVector.SPECIES_PREFERRED.vectorBitSize() >= S.vectorBitSize();
    }

    /**
     * Runs the kernel until the JIT has compiled it. Until C2 does, every vector is a heap object and the kernel is
     * ~100× slower; a first real product on that code looks like a second core that never answers, and the lanes
     * step aside for thousands of products (measured: the helper ran 1 sample in 13 of a batch-16 benchmark).
     */
    static synchronized void warmUp() {
        if (warm) {
            return;
        }
        int in = 64;
        float[] x = new float[5 * in];
        float[] xq = new float[5 * in];
        float[] w = new float[2 * in * PANEL];
        float[] y = new float[5 * 2 * PANEL];
        for (int i = 0; i < 20_000; i++) {
            interleave(x, 5, in, xq);
            multiply(x, xq, 5, in, w, 0, 2, y, 2 * PANEL); // one block of four rows and one single row per panel
        }
        warm = true;
    }

    private static boolean warm;

    /**
     * {@code xq[g][k][j] = x[4g + j][k]} for each whole block {@code g} of 4 rows: the layout {@link #multiply} reads
     * those rows in (the rest it reads from {@code x}).
     */
    static void interleave(float[] x, int rows, int in, float[] xq) {
        for (int r = 0; r + 4 <= rows; r += 4) {
            int base = r * in;
            for (int k = 0; k < in; k++) {
                int at = base + 4 * k;
                xq[at] = x[base + k];
                xq[at + 1] = x[base + in + k];
                xq[at + 2] = x[base + 2 * in + k];
                xq[at + 3] = x[base + 3 * in + k];
            }
        }
    }

    /**
     * Panels {@code [from, to)} of {@code y[rows][yStride] = x[rows][in] · packedᵀ}, with {@code xq} the
     * {@link #interleave interleaved} copy of {@code x}; columns of other panels are left alone, so two threads can
     * fill disjoint panel ranges of one {@code y}.
     */
    static void multiply(float[] x, float[] xq, int rows, int in, float[] packed, int from, int to, float[] y,
            int yStride) {
        for (int panel = from; panel < to; panel++) {
            int wBase = panel * in * PANEL;
            int col = panel * PANEL;
            for (int k0 = 0; k0 < in; k0 += K_BLOCK) {
                int k1 = Math.min(in, k0 + K_BLOCK);
                int r = 0;
                for (; r + 4 <= rows; r += 4) {
                    fourRows(xq, r, in, packed, wBase, k0, k1, y, yStride, col);
                }
                for (; r < rows; r++) {
                    oneRow(x, r, in, packed, wBase, k0, k1, y, yStride, col);
                }
            }
        }
    }

    private static void fourRows(float[] xq, int r, int in, float[] w, int wBase, int k0, int k1, float[] y,
            int yStride, int col) {
        int y0 = r * yStride + col;
        int y1 = y0 + yStride;
        int y2 = y1 + yStride;
        int y3 = y2 + yStride;
        FloatVector a00;
        FloatVector a01;
        FloatVector a10;
        FloatVector a11;
        FloatVector a20;
        FloatVector a21;
        FloatVector a30;
        FloatVector a31;
        if (k0 == 0) {
            a00 = a01 = a10 = a11 = a20 = a21 = a30 = a31 = FloatVector.zero(S);
        } else { // a later block of inputs adds to what the earlier ones left in y
            a00 = FloatVector.fromArray(S, y, y0);
            a01 = FloatVector.fromArray(S, y, y0 + 8);
            a10 = FloatVector.fromArray(S, y, y1);
            a11 = FloatVector.fromArray(S, y, y1 + 8);
            a20 = FloatVector.fromArray(S, y, y2);
            a21 = FloatVector.fromArray(S, y, y2 + 8);
            a30 = FloatVector.fromArray(S, y, y3);
            a31 = FloatVector.fromArray(S, y, y3 + 8);
        }
        int xBase = r * in; // this block's interleaved inputs: [in][4]
        for (int k = k0; k < k1; k++) {
            int wi = wBase + k * PANEL;
            int xi = xBase + 4 * k;
            FloatVector b0 = FloatVector.fromArray(S, w, wi);
            FloatVector b1 = FloatVector.fromArray(S, w, wi + 8);
            FloatVector v = FloatVector.broadcast(S, xq[xi]);
            a00 = b0.fma(v, a00);
            a01 = b1.fma(v, a01);
            v = FloatVector.broadcast(S, xq[xi + 1]);
            a10 = b0.fma(v, a10);
            a11 = b1.fma(v, a11);
            v = FloatVector.broadcast(S, xq[xi + 2]);
            a20 = b0.fma(v, a20);
            a21 = b1.fma(v, a21);
            v = FloatVector.broadcast(S, xq[xi + 3]);
            a30 = b0.fma(v, a30);
            a31 = b1.fma(v, a31);
        }
        a00.intoArray(y, y0);
        a01.intoArray(y, y0 + 8);
        a10.intoArray(y, y1);
        a11.intoArray(y, y1 + 8);
        a20.intoArray(y, y2);
        a21.intoArray(y, y2 + 8);
        a30.intoArray(y, y3);
        a31.intoArray(y, y3 + 8);
    }

    private static void oneRow(float[] x, int r, int in, float[] w, int wBase, int k0, int k1, float[] y,
            int yStride, int col) {
        int y0 = r * yStride + col;
        FloatVector a0 = k0 == 0 ? FloatVector.zero(S) : FloatVector.fromArray(S, y, y0);
        FloatVector a1 = k0 == 0 ? FloatVector.zero(S) : FloatVector.fromArray(S, y, y0 + 8);
        int x0 = r * in;
        for (int k = k0; k < k1; k++) {
            int wi = wBase + k * PANEL;
            FloatVector v = FloatVector.broadcast(S, x[x0 + k]);
            a0 = FloatVector.fromArray(S, w, wi).fma(v, a0);
            a1 = FloatVector.fromArray(S, w, wi + 8).fma(v, a1);
        }
        a0.intoArray(y, y0);
        a1.intoArray(y, y0 + 8);
    }
}
