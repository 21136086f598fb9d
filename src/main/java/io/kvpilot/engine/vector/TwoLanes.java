package io.kvpilot.engine.vector;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * Two halves of one product on two cores: one on the calling (engine) thread, the other on a helper thread at the same
 * time. A decode step makes ~50 such products ~0.5 ms apart, so the hand-off is a spin on an atomic state, not a
 * queue: waking a parked thread costs ~0.1 ms on this VM, which ate the whole gain in a first version. The helper spins
 * only while work keeps coming ({@link #SPIN_NANOS} after the last job) and parks in between steps, so an idle server
 * burns no core.
 *
 * <p>The helper's half is claimed, not assigned: when the engine thread has finished its own half and the helper has
 * not started (another process or thread holds the second core), the engine thread takes the other half back and does
 * it itself. Without that, a busy second core turned every hand-off into a wait for the scheduler: measured with
 * another process on one core, batch-1 decode of the 110M model took 226 ms per step instead of ~30.
 *
 * <p>And while the second core stays busy the lanes step aside: when more than {@link #CONTENDED_LIMIT} of a window of
 * {@link #WINDOW} products had to take a half back or wait for the helper longer than half a product, the next
 * {@link #MIN_SOLO_CALLS} (doubling while the contention lasts, up to {@link #MAX_SOLO_CALLS}) run on the engine
 * thread alone (both halves, no hand-off, the helper parked), then two lanes are tried again. Short at first, because
 * JIT compilation at start-up is a burst of exactly this; doubling, because a busy neighbour usually stays (measured
 * with another process on one core: two lanes 71–92 ms per batch-1 step without stepping aside, one lane 41–50).
 *
 * <p>Used by one engine thread at a time; the halves must not share mutable state.
 */
public final class TwoLanes implements AutoCloseable {

    private static final long SPIN_NANOS = 2_000_000;
    /** Spins of the engine thread on a running helper before it starts yielding its core to whoever needs it. */
    private static final int SPINS_BEFORE_YIELD = 1 << 12;
    private static final int IDLE = 0;
    private static final int POSTED = 1;
    private static final int RUNNING = 2;
    private static final int DONE = 3;
    public static final int WINDOW = 64;
    static final int CONTENDED_LIMIT = 8;
    static final int MIN_SOLO_CALLS = 512;
    static final int MAX_SOLO_CALLS = 16_384;
    private static final long CONTENDED_WAIT_NANOS = 100_000;

    private final Thread helper;
    private final AtomicInteger state = new AtomicInteger(IDLE);
    private volatile boolean closed;
    private Runnable posted; // written before state = POSTED, read after; the atomic orders them
    private Throwable failure;
    private long reclaimed; // the engine thread's, like the fields below
    private int soloLength = MIN_SOLO_CALLS;
    private int windowCalls;
    private int contendedCalls;
    private int soloLeft;
    private long soloRuns;

    public TwoLanes() {
        this(true);
    }

    /** {@code startHelper = false}: a helper that never gets a core, for tests of the take-back path. */
    public TwoLanes(boolean startHelper) {
        helper = new Thread(this::serve, "kvpilot-matmul-lane");
        helper.setDaemon(true);
        if (startHelper) {
            helper.start();
        }
    }

    /** How many second halves the engine thread did itself because the helper had not started them. */
    public long reclaimedHalves() {
        return reclaimed;
    }

    /** How many times the lanes stepped aside for a run of products because the second core was busy. */
    public long soloRuns() {
        return soloRuns;
    }

    /**
     * Runs {@code mine} here and {@code theirs} on the helper (or here, when the helper has not started it by the time
     * {@code mine} is done); returns when both are done. A failure of either is rethrown after both have settled.
     */
    public void run(Runnable mine, Runnable theirs) {
        if (soloLeft > 0) {
            soloLeft--;
            mine.run();
            theirs.run();
            return;
        }
        posted = theirs;
        state.set(POSTED);
        LockSupport.unpark(helper);
        Throwable own = null;
        Throwable other = null;
        long start = System.nanoTime();
        try {
            mine.run();
        } catch (RuntimeException | Error e) { // settle the helper's half either way: it may read what mine reads
            own = e;
        }
        long ownHalf = System.nanoTime() - start;
        boolean contended;
        if (state.compareAndSet(POSTED, IDLE)) { // the helper never got to it: no point waiting for a core
            reclaimed++;
            contended = true;
            if (own == null) {
                try {
                    theirs.run();
                } catch (RuntimeException | Error e) {
                    own = e;
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
            other = failure;
            state.set(IDLE);
        }
        posted = null;
        failure = null;
        countContention(contended);
        Throwable first = own != null ? own : other;
        if (first instanceof Error e) {
            throw e;
        }
        if (first != null) {
            throw (RuntimeException) first;
        }
    }

    /**
     * Runs {@code work} here and on the helper at once, for work that both lanes claim piece by piece until none is
     * left (so either lane alone finishes all of it). Returns when both are done. A helper that has not started by
     * then is simply not waited for, and since no lane waits longer than one piece, nothing here counts as contention.
     */
    public void share(Runnable work) {
        posted = work;
        state.set(POSTED);
        LockSupport.unpark(helper);
        Throwable own = null;
        try {
            work.run();
        } catch (RuntimeException | Error e) {
            own = e;
        }
        Throwable other = null;
        if (!state.compareAndSet(POSTED, IDLE)) {
            for (int spins = 0; state.get() != DONE; spins++) { // it is finishing its last piece
                if (spins < SPINS_BEFORE_YIELD) {
                    Thread.onSpinWait();
                } else {
                    Thread.yield();
                }
            }
            other = failure;
            state.set(IDLE);
        }
        posted = null;
        failure = null;
        Throwable first = own != null ? own : other;
        if (first instanceof Error e) {
            throw e;
        }
        if (first != null) {
            throw (RuntimeException) first;
        }
    }

    private void countContention(boolean contended) {
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
                posted.run();
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
