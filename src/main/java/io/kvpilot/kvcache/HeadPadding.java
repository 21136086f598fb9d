package io.kvpilot.kvcache;

/**
 * Where a head-ragged store pads its shorter heads: KV head {@code h} holds no entry in slots
 * {@code [from[h], to)}, and an entry in every other slot below the store's length. A compaction that keeps different
 * counts per head ({@link KvLayerStore#retain}) writes each head's kept entries from slot 0 and pads it up to the
 * longest head ({@code to}); later appends go after {@code to} for every head. So the padding is one range per head,
 * and attention that reads the store directly skips it instead of adding the {@code −∞} mask.
 *
 * @param from per KV head, the first padded slot ({@code to} when the head is not padded)
 * @param to the slot after the padding, the same for every head
 */
public record HeadPadding(int[] from, int to) {

    public HeadPadding {
        for (int f : from) {
            if (f < 0 || f > to) {
                throw new IllegalArgumentException("padding from " + f + " outside [0, " + to + "]");
            }
        }
    }

    /**
     * The padding an additive mask {@code [heads, 1, n]} (0 held, −∞ padded) describes, or null when it has none or
     * not this form (a padded slot after a held one beyond a single range per head, or ranges ending apart).
     */
    public static HeadPadding of(float[] mask, int heads, int n) {
        int[] from = new int[heads];
        int to = -1;
        boolean padded = false;
        for (int h = 0; h < heads; h++) {
            int first = -1;
            int end = -1;
            for (int j = 0; j < n; j++) {
                if (mask[h * n + j] == Float.NEGATIVE_INFINITY) {
                    if (first < 0) {
                        first = j;
                    } else if (end != j) {
                        return null; // a second range
                    }
                    end = j + 1;
                } else if (mask[h * n + j] != 0f) {
                    return null;
                }
            }
            if (first >= 0) {
                if (to >= 0 && to != end) {
                    return null;
                }
                to = end;
                padded = true;
            }
            from[h] = first;
        }
        if (!padded) {
            return null;
        }
        for (int h = 0; h < heads; h++) {
            from[h] = from[h] < 0 ? to : from[h];
        }
        return new HeadPadding(from, to);
    }

    /** Slots of head {@code h} hidden among the first {@code n}. */
    public int hidden(int h, int n) {
        return Math.max(0, Math.min(n, to) - from[h]);
    }
}
