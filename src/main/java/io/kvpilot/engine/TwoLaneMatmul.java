package io.kvpilot.engine;

import ai.djl.ndarray.NDArray;
import java.util.concurrent.locks.LockSupport;

/**
 * Decode's weight matmuls on two cores: {@code W·xᵀ} as its top rows on the calling thread and its bottom rows on a
 * helper thread at the same time, each single-threaded. A decode step streams every weight once, and one core reads
 * ≈ 13–14 GB/s here while two read ≈ 28 (docs/benchmarks.md); libtorch's own intra-op threads do not get there,
 * because MKL runs these few-column products on one thread whatever the setting (measured: 49 matmuls of the 110M
 * model, 27 ms on one OpenMP thread, 27 ms on two, 16.5 ms as two concurrent halves).
 *
 * <p>The hand-off is a spin on a volatile, not a queue: a step makes ~50 of them ~0.5 ms apart, and waking a parked
 * thread costs ~0.1 ms on this VM, which ate the whole gain in a first version. The helper spins only while work keeps
 * coming ({@link #SPIN_NANOS} after the last job) and parks in between steps, so an idle server burns no core.
 */
final class TwoLaneMatmul implements AutoCloseable {

    private static final long SPIN_NANOS = 2_000_000;
    private static final int IDLE = 0;
    private static final int POSTED = 1;
    private static final int DONE = 2;

    private final Thread helper;
    private volatile int state = IDLE;
    private volatile boolean closed;
    private NDArray weight; // written before state = POSTED, read after; the volatile orders them
    private NDArray input;
    private NDArray result;
    private RuntimeException failure;

    TwoLaneMatmul() {
        helper = new Thread(this::serve, "kvpilot-matmul-lane");
        helper.setDaemon(true);
        helper.start();
    }

    /** The top rows of a contiguous {@code [out, in]} weight (a view, no copy). */
    static NDArray top(NDArray w) {
        return w.get(0 + ":" + w.getShape().get(0) / 2);
    }

    /** The bottom rows (a view). */
    static NDArray bottom(NDArray w) {
        return w.get(w.getShape().get(0) / 2 + ":");
    }

    /**
     * {@code [top; bottom]·xT}: {@code top·xT} here, {@code bottom·xT} on the helper, stacked into {@code [out, N]}.
     * Both products are attached to the weights' manager, as a plain {@code matMul} of the weight would be.
     */
    NDArray matMul(NDArray top, NDArray bottom, NDArray xT) {
        weight = bottom;
        input = xT;
        state = POSTED;
        LockSupport.unpark(helper);
        NDArray upper = null;
        Throwable mine = null;
        try {
            upper = top.matMul(xT);
        } catch (RuntimeException | Error e) { // wait for the helper either way: it reads xT
            mine = e;
        }
        while (state != DONE) { // the helper's half takes as long as this one: it is (nearly) done already
            Thread.onSpinWait();
        }
        NDArray lower = result;
        RuntimeException theirs = failure;
        result = null;
        failure = null;
        weight = null;
        input = null;
        state = IDLE;
        if (mine != null || theirs != null) {
            for (NDArray half : new NDArray[] {upper, lower}) {
                if (half != null) {
                    half.close();
                }
            }
            if (mine instanceof Error e) {
                throw e;
            }
            throw mine != null ? (RuntimeException) mine : theirs;
        }
        NDArray out = upper.concat(lower, 0);
        upper.close();
        lower.close();
        return out;
    }

    private void serve() {
        long lastWork = System.nanoTime();
        while (!closed) {
            if (state != POSTED) {
                if (System.nanoTime() - lastWork < SPIN_NANOS) {
                    Thread.onSpinWait();
                } else {
                    LockSupport.park(this);
                }
                continue;
            }
            try {
                result = weight.matMul(input);
            } catch (RuntimeException e) {
                failure = e;
            } catch (Error e) { // the engine thread spins until DONE: never leave without setting it
                failure = new IllegalStateException("matmul lane failed: " + e, e);
            }
            state = DONE;
            lastWork = System.nanoTime();
        }
    }

    @Override
    public void close() {
        closed = true;
        LockSupport.unpark(helper);
    }
}
