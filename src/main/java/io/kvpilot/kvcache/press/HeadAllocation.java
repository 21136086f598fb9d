package io.kvpilot.kvcache.press;

/**
 * Which entries each KV head keeps, given the layer's scores and its budget of {@code keep} entries per head
 * ({@code kvHeads * keep} in total). Entries scored {@code +Infinity} are kept first, within the budget.
 */
public interface HeadAllocation {

    /**
     * @param scores {@code [kvHeads][T]}
     * @return per head, the kept entry indices in ascending (position) order
     */
    int[][] select(float[][] scores, int keep);

    /** Every head keeps its own top {@code keep}. */
    HeadAllocation UNIFORM = (scores, keep) -> {
        int[][] out = new int[scores.length][];
        for (int h = 0; h < scores.length; h++) {
            out[h] = TopK.indices(scores[h], keep);
        }
        return out;
    };
}
