package io.kvpilot.telemetry;

import java.util.Arrays;

/**
 * Histograms and counters over the last {@value #SHORT_SECONDS} and {@value #LONG_SECONDS} seconds: a ring of
 * per-second slots, and for each window running totals that a slot's counts join when recorded and leave when the
 * slot's second falls out of the window. Recording is O(1) and allocates nothing; a quantile scans {@link #BINS} bins.
 * Not thread-safe: one writer (the engine thread), which also reads.
 *
 * <p>Bins are log-linear: {@value #SUB_BINS} per power of two from 2^{@value #MIN_EXPONENT} (7.6 µs) to
 * 2^{@value #MAX_EXPONENT + 1} (4,096 s), plus one below and one above. A quantile is the middle of the bin that
 * holds its rank, within 1/32 (3.1 %) of the value there; below the range it is 0, above it 4,096.
 *
 * <p>A window is the clock's current second and the ones before it: "the last 10 s" are seconds {@code now - 9} to
 * {@code now}, the current one partly elapsed.
 */
final class SecondWindows {

    static final int SHORT_SECONDS = 10;
    static final int LONG_SECONDS = 60;
    static final int SUB_BITS = 4;
    static final int SUB_BINS = 1 << SUB_BITS;
    static final int MIN_EXPONENT = -17;
    static final int MAX_EXPONENT = 11;
    static final int BINS = (MAX_EXPONENT - MIN_EXPONENT + 1) * SUB_BINS + 2;
    private static final long NONE = Long.MIN_VALUE;

    private final int histograms;
    private final int counters;
    private final int[][] slotBins = new int[LONG_SECONDS][]; // [slot][histogram * BINS + bin]
    private final long[][] slotCounts = new long[LONG_SECONDS][]; // [slot][histogram observations, then counters]
    private final long[] slotSecond = new long[LONG_SECONDS];
    private final int[] shortBins;
    private final int[] longBins;
    private final long[] shortCounts;
    private final long[] longCounts;
    private long head = NONE;

    SecondWindows(int histograms, int counters) {
        this.histograms = histograms;
        this.counters = counters;
        for (int s = 0; s < LONG_SECONDS; s++) {
            slotBins[s] = new int[histograms * BINS];
            slotCounts[s] = new long[histograms + counters];
        }
        Arrays.fill(slotSecond, NONE);
        shortBins = new int[histograms * BINS];
        longBins = new int[histograms * BINS];
        shortCounts = new long[histograms + counters];
        longCounts = new long[histograms + counters];
    }

    /** Adds {@code value} to histogram {@code h} at {@code second}; NaN is ignored. */
    void observe(long second, int h, double value) {
        if (Double.isNaN(value)) {
            return;
        }
        int slot = slotFor(second);
        int i = h * BINS + bin(value);
        slotBins[slot][i]++;
        shortBins[i]++;
        longBins[i]++;
        slotCounts[slot][h]++;
        shortCounts[h]++;
        longCounts[h]++;
    }

    /** Adds {@code amount} to counter {@code c} at {@code second}. */
    void add(long second, int c, long amount) {
        int slot = slotFor(second);
        int i = histograms + c;
        slotCounts[slot][i] += amount;
        shortCounts[i] += amount;
        longCounts[i] += amount;
    }

    /** Moves the windows to end at {@code second}: what is older leaves them. A clock never goes back here. */
    void advance(long second) {
        if (head != NONE && second <= head) {
            return;
        }
        if (head == NONE || second - head >= LONG_SECONDS) {
            clear();
        } else {
            for (long s = head + 1; s <= second; s++) {
                leave(s - SHORT_SECONDS, shortBins, shortCounts, false);
                leave(s - LONG_SECONDS, longBins, longCounts, true);
            }
        }
        head = second;
    }

    /** Observations of histogram {@code h} in the window. */
    long count(boolean shortWindow, int h) {
        return (shortWindow ? shortCounts : longCounts)[h];
    }

    /** Counter {@code c}'s sum over the window. */
    long total(boolean shortWindow, int c) {
        return (shortWindow ? shortCounts : longCounts)[histograms + c];
    }

    /** The {@code q}-quantile (nearest rank) of histogram {@code h} over the window; NaN when it is empty. */
    double quantile(boolean shortWindow, int h, double q) {
        long n = count(shortWindow, h);
        if (n == 0) {
            return Double.NaN;
        }
        long rank = Math.max(1, (long) Math.ceil(q * n));
        int[] bins = shortWindow ? shortBins : longBins;
        long seen = 0;
        for (int b = 0; b < BINS; b++) {
            seen += bins[h * BINS + b];
            if (seen >= rank) {
                return representative(b);
            }
        }
        return representative(BINS - 1);
    }

    static int bin(double value) {
        if (!(value >= Math.scalb(1.0, MIN_EXPONENT))) {
            return 0;
        }
        int exponent = Math.getExponent(value);
        if (exponent > MAX_EXPONENT) {
            return BINS - 1;
        }
        int sub = (int) ((Double.doubleToRawLongBits(value) >>> (52 - SUB_BITS)) & (SUB_BINS - 1));
        return 1 + (exponent - MIN_EXPONENT) * SUB_BINS + sub;
    }

    /** The middle of bin {@code b}: 0 below the range, 2^(MAX_EXPONENT + 1) above it. */
    static double representative(int b) {
        if (b == 0) {
            return 0.0;
        }
        if (b == BINS - 1) {
            return Math.scalb(1.0, MAX_EXPONENT + 1);
        }
        int exponent = MIN_EXPONENT + (b - 1) / SUB_BINS;
        int sub = (b - 1) % SUB_BINS;
        return Math.scalb(1.0 + (sub + 0.5) / SUB_BINS, exponent);
    }

    private int slotFor(long second) {
        advance(second);
        long at = Math.max(second, head); // a late observation joins the current second
        int slot = (int) Math.floorMod(at, (long) LONG_SECONDS);
        slotSecond[slot] = at;
        return slot;
    }

    /** Second {@code s} leaves one window (and, for the long one, its slot is emptied for reuse). */
    private void leave(long s, int[] bins, long[] counts, boolean free) {
        int slot = (int) Math.floorMod(s, (long) LONG_SECONDS);
        if (slotSecond[slot] != s) {
            return;
        }
        long[] c = slotCounts[slot];
        boolean any = false;
        for (int i = 0; i < c.length; i++) {
            counts[i] -= c[i];
            any |= c[i] != 0;
        }
        if (any) {
            int[] b = slotBins[slot];
            for (int i = 0; i < b.length; i++) {
                bins[i] -= b[i];
            }
        }
        if (free) {
            if (any) {
                Arrays.fill(slotBins[slot], 0);
                Arrays.fill(c, 0);
            }
            slotSecond[slot] = NONE;
        }
    }

    private void clear() {
        for (int s = 0; s < LONG_SECONDS; s++) {
            if (slotSecond[s] != NONE) {
                Arrays.fill(slotBins[s], 0);
                Arrays.fill(slotCounts[s], 0);
                slotSecond[s] = NONE;
            }
        }
        Arrays.fill(shortBins, 0);
        Arrays.fill(longBins, 0);
        Arrays.fill(shortCounts, 0);
        Arrays.fill(longCounts, 0);
    }
}
