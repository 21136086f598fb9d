package io.kvpilot.kvcache.press;

/**
 * How many entries per KV head each layer keeps, given the tokens cached and the ratio removed. The seam PyramidKV
 * changes, instead of copying the selection code (which kvpress's {@code pyramidkv_press.py} does).
 */
public interface BudgetSchedule {

    /** Entries per head kept at {@code layer}, in {@code [1, tokens]}; {@code tokens} when {@code ratio == 0}. */
    int keep(int layer, int numLayers, int tokens, double ratio);

    /** kvpress's definition: {@code floor(T (1 - ratio))} entries kept in every layer. */
    BudgetSchedule UNIFORM = (layer, numLayers, tokens, ratio) -> uniformKeep(tokens, ratio);

    static int uniformKeep(int tokens, double ratio) {
        if (ratio == 0.0) {
            return tokens;
        }
        return Math.max(1, Math.min(tokens, (int) Math.floor(tokens * (1.0 - ratio) + 1e-9)));
    }
}
