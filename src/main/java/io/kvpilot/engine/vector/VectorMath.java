package io.kvpilot.engine.vector;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@code exp} and lane sums for the Java kernels that give the same bits whether the JIT has compiled the caller or
 * not. The Vector API's own {@code EXP} is Intel's SVML in compiled code and {@code Math.exp} per lane before, and its
 * {@code reduceLanes(ADD)} adds in a tree once compiled and in lane order before: the same request then got
 * different logits early in a process's life than later (a bit-exactness test caught it). Built only from operations
 * that round exactly (fused multiply-add, multiply, add, integer bit work), these do not change with the tier.
 */
final class VectorMath {

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_256;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_256;
    // Cephes expf: exp(x) = 2^n · exp(r), n = rint(x / ln 2), |r| ≤ ln 2 / 2, exp(r) by a degree-6 polynomial
    private static final float HI = 88.0f; // exp(88) < Float.MAX_VALUE, and 2^n stays a normal float
    private static final float LO = -87.0f; // exp(-87) = 1.6e-38 and 2^n · p stay normal floats
    private static final float LOG2E = 1.44269504088896341f;
    private static final float ROUNDER = 12582912f; // 1.5 · 2^23
    private static final int ROUNDER_BITS = Float.floatToRawIntBits(ROUNDER);
    private static final float LN2_HI = 0.693359375f;
    private static final float LN2_LO = -2.12194440e-4f;
    private static final float P0 = 1.9875691500e-4f;
    private static final float P1 = 1.3981999507e-3f;
    private static final float P2 = 8.3334519073e-3f;
    private static final float P3 = 4.1665795894e-2f;
    private static final float P4 = 1.6666665459e-1f;
    private static final float P5 = 5.0000001201e-1f;

    private VectorMath() {}

    /** {@code exp} of each lane, within ~2 ulp; inputs are clamped to {@code [LO, HI]}: no infinity, no 0, no subnormal. */
    static FloatVector exp(FloatVector x) {
        x = x.max(LO).min(HI);
        // n = rint(x / ln 2) without a float-to-int conversion (not compiled to vector code in JDK 17): adding
        // 1.5 · 2^23 leaves n in the low bits of the sum's mantissa
        FloatVector big = x.fma(FloatVector.broadcast(S, LOG2E), FloatVector.broadcast(S, ROUNDER));
        FloatVector nf = big.sub(ROUNDER);
        IntVector n = big.reinterpretAsInts().sub(ROUNDER_BITS);
        FloatVector r = nf.fma(FloatVector.broadcast(S, -LN2_HI), x);
        r = nf.fma(FloatVector.broadcast(S, -LN2_LO), r);
        FloatVector p = r.fma(FloatVector.broadcast(S, P0), FloatVector.broadcast(S, P1));
        p = p.fma(r, FloatVector.broadcast(S, P2));
        p = p.fma(r, FloatVector.broadcast(S, P3));
        p = p.fma(r, FloatVector.broadcast(S, P4));
        p = p.fma(r, FloatVector.broadcast(S, P5));
        p = p.fma(r.mul(r), r).add(1f);
        FloatVector twoToN = n.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        return p.mul(twoToN);
    }

    /** The same function on one float, bit for bit (for the tails of loops). */
    static float exp(float x) {
        x = Math.min(Math.max(x, LO), HI);
        float big = Math.fma(x, LOG2E, ROUNDER);
        float nf = big - ROUNDER;
        int n = Float.floatToRawIntBits(big) - ROUNDER_BITS;
        float r = Math.fma(nf, -LN2_HI, x);
        r = Math.fma(nf, -LN2_LO, r);
        float p = Math.fma(r, P0, P1);
        p = Math.fma(p, r, P2);
        p = Math.fma(p, r, P3);
        p = Math.fma(p, r, P4);
        p = Math.fma(p, r, P5);
        p = Math.fma(p, r * r, r) + 1f;
        return p * Float.intBitsToFloat((n + 127) << 23);
    }

    private static final VectorShuffle<Float> HALVES = VectorShuffle.fromValues(S, 4, 5, 6, 7, 0, 1, 2, 3);
    private static final VectorShuffle<Float> PAIRS = VectorShuffle.fromValues(S, 2, 3, 0, 1, 6, 7, 4, 5);
    private static final VectorShuffle<Float> NEIGHBOURS = VectorShuffle.fromValues(S, 1, 0, 3, 2, 5, 4, 7, 6);

    /**
     * The lanes' sum as a tree in a fixed order, {@code ((v0+v4)+(v2+v6)) + ((v1+v5)+(v3+v7))}: as cheap as
     * {@code reduceLanes} (three permutes and adds), and the same bits in every tier.
     */
    static float sum(FloatVector v) {
        v = v.add(v.rearrange(HALVES));
        v = v.add(v.rearrange(PAIRS));
        return v.add(v.rearrange(NEIGHBOURS)).lane(0);
    }
}
