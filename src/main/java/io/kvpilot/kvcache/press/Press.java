package io.kvpilot.kvcache.press;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.util.Objects;

/**
 * The one mechanism every eviction method shares (kvpress's {@code scorer_press.py}): ask the scorer, take the layer's
 * budget from the {@link BudgetSchedule}, let the {@link HeadAllocation} pick the kept entries per head. Compaction of
 * the tensors is {@link Compaction}'s; a method is a scorer plus these two seams, never a copy of this code.
 *
 * @param scorer what scores entries
 * @param budgets entries per head each layer keeps
 * @param heads how a layer's budget is split over its KV heads
 * @param ratio fraction of entries removed, {@code 0 <= ratio < 1}
 */
public record Press(Scorer scorer, BudgetSchedule budgets, HeadAllocation heads, double ratio) {

    public Press {
        Objects.requireNonNull(scorer, "scorer");
        Objects.requireNonNull(budgets, "budgets");
        Objects.requireNonNull(heads, "heads");
        if (!(ratio >= 0.0 && ratio < 1.0)) {
            throw new IllegalArgumentException("ratio must be in [0, 1), got " + ratio);
        }
    }

    public static Press uniform(Scorer scorer, double ratio) {
        return new Press(scorer, BudgetSchedule.UNIFORM, HeadAllocation.UNIFORM, ratio);
    }

    /** The entries {@code view}'s layer keeps; all of them when the budget covers the cache. */
    public KeepPlan plan(LayerView view) {
        int t = view.tokens();
        int keep = budgets.keep(view.layer(), view.numLayers(), t, ratio);
        if (keep >= t) {
            return KeepPlan.all(view.kvHeads(), t);
        }
        return new KeepPlan(heads.select(scores(view, keep), keep), t);
    }

    /**
     * The entries a live cache of {@code view.tokens()} entries keeps once {@code positions} tokens went through the
     * model: the budget applies the ratio to every position seen, prompt and generated (so a sequence holds
     * {@code (1 - ratio)} of its tokens throughout its life, as after prefill), scored by {@link Scorer#forDecode()}.
     */
    public KeepPlan planDuringDecode(LayerView view, int positions) {
        int t = view.tokens();
        int keep = budgets.keep(view.layer(), view.numLayers(), positions, ratio);
        if (keep >= t) {
            return KeepPlan.all(view.kvHeads(), t);
        }
        return new KeepPlan(heads.select(scores(scorer.forDecode(), view, keep), keep), t);
    }

    /** The scorer's scores as {@code [kvHeads][T]}; its temporaries are freed here, not left on the cache's manager. */
    public float[][] scores(LayerView view, int keep) {
        return scores(scorer, view, keep);
    }

    private static float[][] scores(Scorer scorer, LayerView view, int keep) {
        float[] flat;
        try (NDManager scope = view.keys().getManager().newSubManager()) {
            for (NDArray a : new NDArray[] {
                view.keys(), view.values(), view.windowAttention(), view.accumulatedAttention()
            }) {
                if (a != null) {
                    a.tempAttach(scope);
                }
            }
            flat = scorer.score(view, keep).toType(DataType.FLOAT32, false).toFloatArray();
        }
        int h = view.kvHeads();
        int t = view.tokens();
        float[][] out = new float[h][t];
        for (int i = 0; i < h; i++) {
            System.arraycopy(flat, i * t, out[i], 0, t);
        }
        return out;
    }
}
