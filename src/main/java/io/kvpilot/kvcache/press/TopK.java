package io.kvpilot.kvcache.press;

import java.util.Arrays;

/** Top-k selection on one row of scores, done once for every method. */
final class TopK {

    private TopK() {}

    /**
     * Indices of the {@code k} highest scores, ascending: exactly {@code min(k, T)} of them, so a layer never holds more
     * than its budget and the bytes a sequence will hold can be predicted from the counts alone (KvFootprint). Entries
     * scored {@code +Infinity} come first; when there are more of them than {@code k} (a SnapKV window longer than the
     * budget), the most recent win, as kvpress keeps its window inside {@code n_kept}. Ties go to the later (more
     * recent) entry, so equal scores never depend on sort stability.
     */
    static int[] indices(float[] row, int k) {
        int t = row.length;
        if (k >= t) {
            int[] all = new int[t];
            Arrays.setAll(all, i -> i);
            return all;
        }
        // one primitive sort of (score, index) packed into longs: ascending score, then ascending index, so the
        // last n are the highest scores with ties going to the later entry (no boxing, no comparator calls)
        long[] packed = new long[t];
        for (int i = 0; i < t; i++) {
            int bits = Float.floatToIntBits(row[i]);
            int sortable = bits < 0 ? bits ^ 0x7fffffff : bits; // float order as signed int order
            packed[i] = ((long) sortable << 32) | i;
        }
        Arrays.sort(packed);
        int n = Math.max(k, 0);
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            out[i] = (int) packed[t - 1 - i];
        }
        Arrays.sort(out);
        return out;
    }
}
