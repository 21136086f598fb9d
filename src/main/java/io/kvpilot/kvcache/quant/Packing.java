package io.kvpilot.kvcache.quant;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

/**
 * Packs {@code b}-bit codes (b = 4 or 2) into bytes along the last axis, {@code 8 / b} codes per byte (lowest code in
 * the lowest bits), so the bytes held are really {@code b / 8} per value. Done with arithmetic because DJL has no
 * bit-shift ops; all values stay exact in fp32.
 */
final class Packing {

    private Packing() {}

    /** Codes in {@code [0, 2^b)} as fp32 {@code [..., D]} → uint8 {@code [..., D * b / 8]}. */
    static NDArray pack(NDArray codes, int bits) {
        int per = 8 / bits;
        long[] shape = codes.getShape().getShape();
        long[] grouped = java.util.Arrays.copyOf(shape, shape.length + 1);
        grouped[shape.length - 1] = shape[shape.length - 1] / per;
        grouped[shape.length] = per;
        NDArray weights = codes.getManager().create(powers(bits));
        return codes.reshape(grouped).mul(weights).sum(new int[] {-1}).toType(DataType.UINT8, false);
    }

    /** Inverse of {@link #pack}: uint8 {@code [..., P]} → fp32 codes {@code [..., P * 8 / b]}. */
    static NDArray unpack(NDArray packed, int bits) {
        long[] shape = packed.getShape().getShape();
        long[] flat = shape.clone();
        flat[flat.length - 1] = shape[shape.length - 1] * (8 / bits);
        NDArray divisors = packed.getManager().create(powers(bits));
        return packed.toType(DataType.FLOAT32, false)
                .expandDims(-1)
                .div(divisors)
                .floor()
                .mod(1 << bits)
                .reshape(flat);
    }

    private static float[] powers(int bits) {
        float[] p = new float[8 / bits];
        for (int j = 0; j < p.length; j++) {
            p[j] = 1 << (bits * j);
        }
        return p;
    }
}
