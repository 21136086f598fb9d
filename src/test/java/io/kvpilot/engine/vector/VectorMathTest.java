package io.kvpilot.engine.vector;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.Random;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

/** The tier-independent exp and lane sum: accurate, and the vector and scalar forms agree bit for bit. */
class VectorMathTest {

    @Test
    void expIsAccurateAndTheVectorAndScalarFormsAgree() {
        Random random = new Random(11);
        float[] x = new float[8];
        float[] y = new float[8];
        for (int round = 0; round < 20_000; round++) {
            for (int i = 0; i < 8; i++) { // softmax and SiLU arguments, and the clamped extremes
                x[i] = round % 100 == 0 ? (i % 2 == 0 ? -1e4f : 1e4f) : (float) (random.nextGaussian() * 30);
            }
            VectorMath.exp(FloatVector.fromArray(FloatVector.SPECIES_256, x, 0)).intoArray(y, 0);
            for (int i = 0; i < 8; i++) {
                float scalar = VectorMath.exp(x[i]);
                assertThat(Float.floatToIntBits(y[i])).as("exp(%s)", x[i]).isEqualTo(Float.floatToIntBits(scalar));
                assertThat(Float.isFinite(scalar) && scalar > 0).as("exp(%s) = %s", x[i], scalar).isTrue();
                double exact = Math.exp(Math.min(Math.max(x[i], -87.0), 88.0));
                assertThat((double) scalar).as("exp(%s)", x[i]).isCloseTo(exact, within(exact * 3e-7));
            }
        }
        assertThat(VectorMath.exp(0f)).isEqualTo(1f);
    }

    @Test
    void sumAddsInItsDocumentedOrder() {
        Random random = new Random(5);
        float[] v = new float[8];
        for (int round = 0; round < 20_000; round++) {
            for (int i = 0; i < 8; i++) {
                v[i] = (float) (random.nextGaussian() * Math.pow(10, random.nextInt(8)));
            }
            float expected = ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));
            assertThat(Float.floatToIntBits(VectorMath.sum(FloatVector.fromArray(FloatVector.SPECIES_256, v, 0))))
                    .isEqualTo(Float.floatToIntBits(expected));
        }
    }
}
