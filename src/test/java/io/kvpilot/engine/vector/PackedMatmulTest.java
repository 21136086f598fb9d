package io.kvpilot.engine.vector;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The packed Vector API kernel against libtorch's own product, on shapes that exercise every edge of the kernel. */
class PackedMatmulTest {

    /** Largest |a − b| over two arrays of the same shape. */
    private static float maxDifference(NDArray a, NDArray b) {
        return a.sub(b).abs().max().getFloat();
    }

    @Test
    void matchesLibtorchForPaddedPanelsRowTailsAndLongInputs() {
        assertThat(PackedMatmul.available()).as("tests run with --add-modules jdk.incubator.vector").isTrue();
        PackedMatmul matmul = new PackedMatmul();
        try (NDManager m = NDManager.newBaseManager(); TwoLanes lanes = new TwoLanes()) {
            // out 37: three panels, the last padded; in 1,100: a second K block; rows 1..9: four-row blocks and tails
            for (int[] shape : new int[][] {{37, 20}, {16, 8}, {200, 1100}, {5, 3}}) {
                NDArray w = m.randomNormal(new Shape(shape[0], shape[1]));
                PackedMatmul.PackedWeight packed = PackedMatmul.pack(w);
                assertThat(packed.panels()).isEqualTo((shape[0] + 15) / 16);
                for (int rows = 1; rows <= 9; rows++) {
                    NDArray x = m.randomNormal(new Shape(rows, shape[1]));
                    NDArray expected = x.matMul(w.transpose());
                    for (TwoLanes l : new TwoLanes[] {null, lanes}) {
                        NDArray y = matmul.multiply(x, packed, m, l);
                        assertThat(y.getShape()).isEqualTo(new Shape(rows, shape[0]));
                        float tolerance = 1e-5f * shape[1];
                        assertThat(maxDifference(y, expected)).as("%s, %d rows, lanes %s", shape, rows, l != null)
                                .isLessThanOrEqualTo(tolerance);
                    }
                }
            }
        }
    }

    @Test
    void aHelperThatNeverStartsLeavesAllTheWorkToTheEngineThread() {
        PackedMatmul matmul = new PackedMatmul();
        try (NDManager m = NDManager.newBaseManager(); TwoLanes lanes = new TwoLanes(false)) {
            NDArray w = m.randomNormal(new Shape(256, 64));
            PackedMatmul.PackedWeight packed = PackedMatmul.pack(w);
            NDArray x = m.randomNormal(new Shape(16, 64));
            assertTimeoutPreemptively(Duration.ofSeconds(30), () -> {
                for (int i = 0; i < 100; i++) {
                    NDArray y = matmul.multiply(x, packed, m, lanes);
                    assertThat(maxDifference(y, x.matMul(w.transpose()))).isLessThanOrEqualTo(1e-3f);
                }
            });
        }
    }

    @Test
    void aWrongInputWidthIsRefused() {
        PackedMatmul matmul = new PackedMatmul();
        try (NDManager m = NDManager.newBaseManager()) {
            PackedMatmul.PackedWeight packed = PackedMatmul.pack(m.randomNormal(new Shape(16, 8)));
            org.assertj.core.api.Assertions.assertThatThrownBy(
                    () -> matmul.multiply(m.randomNormal(new Shape(4, 9)), packed, m, null))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("9");
        }
    }
}
