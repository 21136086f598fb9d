package io.kvpilot.kvcache.press;

/**
 * The entries one layer keeps: per KV head, ascending indices into the cache as it was scored.
 *
 * @param kept {@code [kvHeads][]}; heads may keep different counts (head-wise budgets)
 * @param tokens entries the cache held before
 */
public record KeepPlan(int[][] kept, int tokens) {

    public KeepPlan {
        for (int[] head : kept) {
            for (int i = 0; i < head.length; i++) {
                if (head[i] < 0 || head[i] >= tokens || (i > 0 && head[i] <= head[i - 1])) {
                    throw new IllegalArgumentException("kept indices must be ascending within [0, " + tokens + ")");
                }
            }
        }
    }

    public static KeepPlan all(int kvHeads, int tokens) {
        int[][] kept = new int[kvHeads][tokens];
        for (int[] head : kept) {
            java.util.Arrays.setAll(head, i -> i);
        }
        return new KeepPlan(kept, tokens);
    }

    public boolean keepsAll() {
        for (int[] head : kept) {
            if (head.length != tokens) {
                return false;
            }
        }
        return true;
    }

    /** The largest per-head count: the compacted tensors' length. */
    public int maxKept() {
        int m = 0;
        for (int[] head : kept) {
            m = Math.max(m, head.length);
        }
        return m;
    }

    public boolean isRagged() {
        for (int[] head : kept) {
            if (head.length != kept[0].length) {
                return true;
            }
        }
        return false;
    }
}
