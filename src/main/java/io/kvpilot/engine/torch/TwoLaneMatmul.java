package io.kvpilot.engine.torch;

import ai.djl.ndarray.NDArray;
import io.kvpilot.engine.vector.TwoLanes;

/**
 * Decode's weight matmuls for a few rows on two cores through libtorch: {@code W·xᵀ} as its top rows on the engine
 * thread and its bottom rows on the {@link TwoLanes} helper, each single-threaded. A decode step streams every weight
 * once, and one core reads ≈ 13–14 GB/s here while two read ≈ 28 (docs/benchmarks.md); libtorch's own intra-op
 * threads do not get there, because MKL runs these few-column products on one thread whatever the setting (measured:
 * 49 matmuls of the 110M model, 27 ms on one OpenMP thread, 27 ms on two, 16.5 ms as two concurrent halves).
 */
final class TwoLaneMatmul implements AutoCloseable {

    static final int WINDOW = TwoLanes.WINDOW;

    private final TwoLanes lanes;
    // one product's operands and halves; the runnables are made once, so a product allocates nothing in Java
    private NDArray top;
    private NDArray bottom;
    private NDArray xT;
    private NDArray upper;
    private NDArray lower;
    private final Runnable upperHalf = () -> upper = top.matMul(xT);
    private final Runnable lowerHalf = () -> lower = bottom.matMul(xT);

    TwoLaneMatmul() {
        this(true);
    }

    /** {@code startHelper = false}: a helper that never gets a core, for tests of the take-back path. */
    TwoLaneMatmul(boolean startHelper) {
        this(new TwoLanes(startHelper));
    }

    /** Products on {@code lanes}, which this closes when it is closed. */
    TwoLaneMatmul(TwoLanes lanes) {
        this.lanes = lanes;
    }

    /** The two lanes, for other products that split the same way. */
    TwoLanes lanes() {
        return lanes;
    }

    /** The top rows of a contiguous {@code [out, in]} weight (a view, no copy). */
    static NDArray top(NDArray w) {
        return w.get(0 + ":" + w.getShape().get(0) / 2);
    }

    /** The bottom rows (a view). */
    static NDArray bottom(NDArray w) {
        return w.get(w.getShape().get(0) / 2 + ":");
    }

    long reclaimedHalves() {
        return lanes.reclaimedHalves();
    }

    long soloRuns() {
        return lanes.soloRuns();
    }

    /**
     * {@code [top; bottom]·xT}, stacked into {@code [out, N]}, attached to the weights' manager as a plain
     * {@code matMul} of the weight would be.
     */
    NDArray matMul(NDArray top, NDArray bottom, NDArray xT) {
        this.top = top;
        this.bottom = bottom;
        this.xT = xT;
        try {
            lanes.run(upperHalf, lowerHalf);
            return upper.concat(lower, 0);
        } finally {
            if (upper != null) {
                upper.close();
            }
            if (lower != null) {
                lower.close();
            }
            this.top = null;
            this.bottom = null;
            this.xT = null;
            upper = null;
            lower = null;
        }
    }

    @Override
    public void close() {
        lanes.close();
    }
}
