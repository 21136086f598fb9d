package io.kvpilot.engine;

import ai.djl.ndarray.NDArray;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * Decode's weight matmuls on two cores: {@code W·xᵀ} as its top rows on the calling thread and its bottom rows on a
 * helper thread at the same time, each single-threaded. A decode step streams every weight once, and one core reads
 * ≈ 13–14 GB/s here while two read ≈ 28 (docs/benchmarks.md); libtorch's own intra-op threads do not get there,
 * because MKL runs these few-column products on one thread whatever the setting (measured: 49 matmuls of the 110M
 * model, 27 ms on one OpenMP thread, 27 ms on two, 16.5 ms as two concurrent halves).
 *
 * <p>The hand-off is a spin on an atomic state, not a queue: a step makes ~50 of them ~0.5 ms apart, and waking a parked
 * thread costs ~0.1 ms on this VM, which ate the whole gain in a first version. The helper spins only while work keeps
 * coming ({@link #SPIN_NANOS} after the last job) and parks in between steps, so an idle server burns no core.
 *
 * <p>The helper's half is claimed, not assigned: when the engine thread has finished its own half and the helper has
 * not started (another process or thread holds the second core), the engine thread takes the bottom half back and
 * does it itself. Without that, a busy second core turned every hand-off into a wait for the scheduler: measured with
 * another process on one core, batch-1 decode of the 110M model took 226 ms per step instead of ~30.
 *
 * <p>And while the second core stays busy the lanes step aside: when more than {@link #CONTENDED_LIMIT} of a window of
 * {@link #WINDOW} products had to take a half back or wait for the helper longer than half a product, the next
 * {@link #MIN_SOLO_CALLS} (doubling while the contention lasts, up to {@link #MAX_SOLO_CALLS}) run on the engine
 * thread alone (both halves, no hand-off, the helper parked), then two lanes are tried again. Short at first, because
 * JIT compilation at start-up is a burst of exactly this; doubling, because a busy neighbour usually stays (measured
 * with another process on one core: two lanes 71–92 ms per batch-1 step without stepping aside, one lane 41–50).
 */
final class TwoLaneMatmul implements AutoCloseable {

    private static final long SPIN_NANOS = 2_000_000;
    /** Spins of the engine thread on a running helper before it starts yielding its core to whoever needs it. */
    private static final int SPINS_BEFORE_YIELD = 1 << 12;
    private static final int IDLE = 0;
    private static final int POSTED = 1;
    private static final int RUNNING = 2;
    private static final int DONE = 3;

    private final Thread helper;
    private final AtomicInteger state = new AtomicInteger(IDLE);
    private volatile boolean closed;
    private NDArray weight; // written before state = POSTED, read after; the atomic orders them
    private NDArray input;
    private NDArray result;
    private RuntimeException failure;
    private long reclaimed; // the engine thread's: halves it took back from a helper that had not started
    static final int WINDOW = 64;
    static final int CONTENDED_LIMIT = 8;
    static final int MIN_SOLO_CALLS = 512;
    static final int MAX_SOLO_CALLS = 16_384;
    private int soloLength = MIN_SOLO_CALLS;
    private static final long CONTENDED_WAIT_NANOS = 100_000;
    private int windowCalls; // the engine thread's, like the two below
    private int contendedCalls;
    private int soloLeft;
    private long soloRuns;

    TwoLaneMatmul() {
        this(true);
    }

    /** {@code startHelper = false}: a helper that never gets a core, for tests of the take-back path. */
    TwoLaneMatmul(boolean startHelper) {
        helper = new Thread(this::serve, "kvpilot-matmul-lane");
        helper.setDaemon(true);
        if (startHelper) {
            helper.start();
        }
    }

    /** The top rows of a contiguous {@code [out, in]} weight (a view, no copy). */
    static NDArray top(NDArray w) {
        return w.get(0 + ":" + w.getShape().get(0) / 2);
    }

    /** The bottom rows (a view). */
    static NDArray bottom(NDArray w) {
        return w.get(w.getShape().get(0) / 2 + ":");
    }

    /** How many bottom halves the engine thread did itself because the helper had not started them. */
    long reclaimedHalves() {
        return reclaimed;
    }

    /** How many times the lanes stepped aside for a run of products because the second core was busy. */
    long soloRuns() {
        return soloRuns;
    }

    /**
     * {@code [top; bottom]·xT}: {@code top·xT} here, {@code bottom·xT} on the helper (or here, when the helper has not
     * started it by the time the top is done), stacked into {@code [out, N]}. Both products are attached to the
     * weights' manager, as a plain {@code matMul} of the weight would be.
     */
    NDArray matMul(NDArray top, NDArray bottom, NDArray xT) {
        if (soloLeft > 0) {
            soloLeft--;
            NDArray upper = top.matMul(xT);
            try (NDArray lower = bottom.matMul(xT)) {
                return upper.concat(lower, 0);
            } finally {
                upper.close();
            }
        }
        boolean contended = false;
        weight = bottom;
        input = xT;
        state.set(POSTED);
        LockSupport.unpark(helper);
        NDArray upper = null;
        NDArray lower = null;
        Throwable mine = null;
        RuntimeException theirs = null;
        long start = System.nanoTime();
        try {
            upper = top.matMul(xT);
        } catch (RuntimeException | Error e) { // settle the helper's half either way: it reads xT
            mine = e;
        }
        long ownHalf = System.nanoTime() - start;
        if (state.compareAndSet(POSTED, IDLE)) { // the helper never got to it: no point waiting for a core
            reclaimed++;
            contended = true;
            if (mine == null) {
                try {
                    lower = bottom.matMul(xT);
                } catch (RuntimeException | Error e) {
                    mine = e;
                }
            }
        } else {
            long waitFrom = System.nanoTime();
            for (int spins = 0; state.get() != DONE; spins++) { // the helper is (nearly) done: its half is as long
                if (spins < SPINS_BEFORE_YIELD) {
                    Thread.onSpinWait();
                } else {
                    Thread.yield(); // it may have been descheduled: let it have this core
                }
            }
            // a helper that had a core finishes about when this thread does; waiting half a product more means not
            contended = System.nanoTime() - waitFrom > Math.max(CONTENDED_WAIT_NANOS, ownHalf / 2);
            lower = result;
            theirs = failure;
            state.set(IDLE);
        }
        result = null;
        failure = null;
        weight = null;
        input = null;
        contendedCalls += contended ? 1 : 0;
        if (++windowCalls == WINDOW) {
            if (contendedCalls > CONTENDED_LIMIT) {
                soloLeft = soloLength;
                soloLength = Math.min(2 * soloLength, MAX_SOLO_CALLS);
                soloRuns++;
            } else {
                soloLength = MIN_SOLO_CALLS;
            }
            windowCalls = 0;
            contendedCalls = 0;
        }
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
            if (state.get() != POSTED || !state.compareAndSet(POSTED, RUNNING)) {
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
            } catch (Error e) { // the engine thread waits until DONE: never leave without setting it
                failure = new IllegalStateException("matmul lane failed: " + e, e);
            }
            state.set(DONE);
            lastWork = System.nanoTime();
        }
    }

    @Override
    public void close() {
        closed = true;
        LockSupport.unpark(helper);
    }
}
