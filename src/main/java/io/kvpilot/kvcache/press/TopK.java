package io.kvpilot.kvcache.press;

import java.util.Arrays;

/** Top-k selection on one row of scores, done once for every method. */
final class TopK {

    private TopK() {}

    /**
     * Indices of the {@code k} highest scores, ascending; every {@code +Infinity} entry is kept even beyond {@code k}.
     * Ties go to the later (more recent) entry, so equal scores never depend on sort stability.
     */
    static int[] indices(float[] row, int k) {
        int t = row.length;
        if (k >= t) {
            int[] all = new int[t];
            Arrays.setAll(all, i -> i);
            return all;
        }
        Integer[] order = new Integer[t];
        Arrays.setAll(order, i -> i);
        Arrays.sort(order, (a, b) -> {
            int c = Float.compare(row[b], row[a]);
            return c != 0 ? c : Integer.compare(b, a);
        });
        int n = Math.max(k, 0);
        while (n < t && row[order[n]] == Float.POSITIVE_INFINITY) {
            n++;
        }
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            out[i] = order[i];
        }
        Arrays.sort(out);
        return out;
    }
}
