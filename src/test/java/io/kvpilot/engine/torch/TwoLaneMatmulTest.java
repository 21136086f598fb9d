package io.kvpilot.engine.torch;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The two-lane product equals the plain one, whether the helper runs its half or never gets a core. */
class TwoLaneMatmulTest {

    private static void assertProducts(TwoLaneMatmul lanes, int calls) {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray w = m.randomNormal(new Shape(301, 64)); // odd row count: halves of 150 and 151 rows
            NDArray top = TwoLaneMatmul.top(w);
            NDArray bottom = TwoLaneMatmul.bottom(w);
            for (int i = 0; i < calls; i++) {
                NDArray x = m.randomNormal(new Shape(1 + i % 16, 64));
                NDArray expected = w.matMul(x.transpose());
                NDArray actual = lanes.matMul(top, bottom, x.transpose());
                assertThat(actual.getShape()).isEqualTo(expected.getShape());
                assertThat(actual.sub(expected).abs().max().getFloat()).isLessThan(1e-4f);
            }
        }
    }

    @Test
    void helperComputesTheBottomHalf() {
        try (TwoLaneMatmul lanes = new TwoLaneMatmul()) {
            assertTimeoutPreemptively(Duration.ofSeconds(30), () -> assertProducts(lanes, 200));
        }
    }

    @Test
    void engineThreadTakesBackAHalfTheHelperNeverStarted() {
        try (TwoLaneMatmul lanes = new TwoLaneMatmul(false)) {
            assertTimeoutPreemptively(Duration.ofSeconds(30), () -> assertProducts(lanes, 50)); // no wait on a core
            assertThat(lanes.reclaimedHalves()).isEqualTo(50);
        }
    }

    @Test
    void lanesStepAsideWhileTheSecondCoreStaysBusy() {
        try (TwoLaneMatmul lanes = new TwoLaneMatmul(false)) {
            assertTimeoutPreemptively(Duration.ofSeconds(60), () -> assertProducts(lanes, TwoLaneMatmul.WINDOW + 100));
            // one window of take-backs, then products on the engine thread alone: nothing posted, nothing taken back
            assertThat(lanes.reclaimedHalves()).isEqualTo(TwoLaneMatmul.WINDOW);
            assertThat(lanes.soloRuns()).isEqualTo(1);
        }
    }

    @Test
    void aFailedProductLeavesTheLanesUsable() {
        for (boolean helper : new boolean[] {true, false}) {
            try (TwoLaneMatmul lanes = new TwoLaneMatmul(helper); NDManager m = NDManager.newBaseManager()) {
                NDArray w = m.randomNormal(new Shape(8, 4));
                NDArray wrongWidth = m.randomNormal(new Shape(2, 5));
                assertTimeoutPreemptively(Duration.ofSeconds(30), () -> {
                    assertThatThrownBy(() -> lanes.matMul(TwoLaneMatmul.top(w), TwoLaneMatmul.bottom(w),
                            wrongWidth.transpose())).isInstanceOf(RuntimeException.class);
                    assertProducts(lanes, 5);
                });
            }
        }
    }
}
