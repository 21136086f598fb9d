package io.kvpilot.kvcache.press;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;

/** Each scorer keeps the expected entries of a hand-built cache; the shared selection keeps exactly the top scores. */
class ScorerSelectionTest {

    @AutoClose
    static final NDManager m = NDManager.newBaseManager();

    /** 2 KV heads, 10 entries, head dim 2; key of entry t on head h has norm {@code norms[h][t]}. */
    static LayerView view(float[][] norms, float[][] lastRowAttention) {
        int h = norms.length;
        int t = norms[0].length;
        float[] k = new float[h * t * 2];
        for (int i = 0; i < h; i++) {
            for (int j = 0; j < t; j++) {
                k[(i * t + j) * 2] = norms[i][j];
            }
        }
        NDArray keys = m.create(k, new Shape(h, t, 2));
        NDArray attn = null;
        if (lastRowAttention != null) {
            float[] a = new float[h * t];
            for (int i = 0; i < h; i++) {
                System.arraycopy(lastRowAttention[i], 0, a, i * t, t);
            }
            attn = m.create(a, new Shape(h, 1, t));
        }
        return new LayerView(0, 1, keys, keys.duplicate(), attn, null);
    }

    static float[][] flat(int heads, int t) {
        float[][] x = new float[heads][t];
        for (float[] r : x) {
            Arrays.fill(r, 1f);
        }
        return x;
    }

    @Test
    void streamingLlmKeepsExactlySinksAndRecentWindow() {
        KeepPlan plan = Press.uniform(new StreamingLlmScorer(2), 0.5).plan(view(flat(2, 10), null));
        for (int[] head : plan.kept()) {
            assertThat(head).containsExactly(0, 1, 7, 8, 9); // 5 kept = 2 sinks + 3 most recent
        }
    }

    @Test
    void knormKeepsTheSmallestKeys() {
        float[][] norms = {{5, 1, 4, 2, 9, 8, 3, 7, 6, 0.5f}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}};
        KeepPlan plan = Press.uniform(new KnormScorer(), 0.7).plan(view(norms, null));
        assertThat(plan.kept()[0]).containsExactly(1, 3, 9);
        assertThat(plan.kept()[1]).containsExactly(0, 1, 2);
    }

    /** 1 KV head, head dim 2, keys given as (x, y) pairs. */
    static LayerView keysView(float[][] xy) {
        float[] k = new float[xy.length * 2];
        for (int j = 0; j < xy.length; j++) {
            k[2 * j] = xy[j][0];
            k[2 * j + 1] = xy[j][1];
        }
        NDArray keys = m.create(k, new Shape(1, xy.length, 2));
        return new LayerView(0, 1, keys, keys.duplicate(), null, null);
    }

    @Test
    void keyDiffKeepsTheKeysUnlikeTheRestWhateverTheirNorm() {
        // seven near-copies of one direction (different norms), three keys pointing elsewhere
        float[][] xy = {{1, 0}, {3, .1f}, {0, 1}, {2, 0}, {5, -.1f}, {-1, .2f}, {1, 0}, {.5f, 0}, {0, -2}, {4, .05f}};
        KeepPlan plan = Press.uniform(new KeyDiffScorer(), 0.7).plan(keysView(xy));
        assertThat(plan.kept()[0]).containsExactly(2, 5, 8);
    }

    @Test
    void keyDiffScoresMinusTheCosineToTheMeanDirection() {
        float[][] xy = {{2, 0}, {0, 3}, {1, 1}};
        float[] scores = new KeyDiffScorer().score(keysView(xy), 1).toFloatArray();
        // unit keys (1,0), (0,1), (.707,.707): mean direction (1,1)/sqrt2
        float c = (float) (1 / Math.sqrt(2));
        assertThat(scores[0]).isCloseTo(-c, org.assertj.core.data.Offset.offset(1e-6f));
        assertThat(scores[1]).isCloseTo(-c, org.assertj.core.data.Offset.offset(1e-6f));
        assertThat(scores[2]).isCloseTo(-1f, org.assertj.core.data.Offset.offset(1e-6f));
    }

    @Test
    void chunkScoresKeepWholeSpans() {
        // chunk means of the norms: [0,3) 2, [3,6) 4 (it holds the smallest key, 5, beside the largest), [6,9) 5,
        // [9,10) 1; entry by entry knorm would keep 5 and 9 first, chunked it keeps the two best chunks whole
        float[][] norms = {{2, 2, 2, 9, 2, 1, 5, 5, 5, 1}};
        float[] chunked = new ChunkScorer(new KnormScorer(), 3).score(view(norms, null), 6).toFloatArray();
        assertThat(chunked).containsExactly(-2, -2, -2, -4, -4, -4, -5, -5, -5, -1);
        KeepPlan plan = Press.uniform(new ChunkScorer(new KnormScorer(), 3), 0.6).plan(view(norms, null));
        assertThat(plan.kept()[0]).containsExactly(0, 1, 2, 9);
    }

    @Test
    void chunkScoresKeepWhatTheInnerScorerProtects() {
        KeepPlan plan = Press.uniform(new ChunkScorer(new StreamingLlmScorer(1), 4), 0.4).plan(view(flat(1, 10), null));
        // the sink's +Inf protects its chunk [0,4); of the rest, the short last chunk [8,10) has the highest mean
        assertThat(plan.kept()[0]).containsExactly(0, 1, 2, 3, 8, 9);
    }

    @Test
    void tovaKeepsWhatTheLastQueryAttendsAveragedOverHeadsAndTheLastEntry() {
        float[][] attn = {{.3f, 0, .2f, 0, 0, .4f, 0, 0, 0, .1f}, {0, .5f, 0, 0, .3f, 0, 0, .2f, 0, 0}};
        // head mean {.15, .25, .1, 0, .15, .2, 0, .1, 0, .05}: entries 1 and 5, plus the last, in both heads
        KeepPlan plan = Press.uniform(new TovaScorer(), 0.7).plan(view(flat(2, 10), attn));
        assertThat(plan.kept()[0]).containsExactly(1, 5, 9);
        assertThat(plan.kept()[1]).containsExactly(1, 5, 9);
    }

    @Test
    void snapKvKeepsPooledNeighboursOfAttendedEntriesAndTheWindow() {
        float[][] attn = {{0, 0, 0, 1, 0, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0, 1, 0, 0, 0}};
        // kernel 3 spreads entry 3's attention to 2..4; window of 1 query keeps entry 9
        KeepPlan plan = Press.uniform(new SnapKvScorer(3), 0.6).plan(view(flat(2, 10), attn));
        assertThat(plan.kept()[0]).containsExactly(2, 3, 4, 9);
        assertThat(plan.kept()[1]).containsExactly(5, 6, 7, 9);
    }

    @Test
    void h2oKeepsTheEntriesWithTheMostAttentionPerQueryThatSawThem() {
        // summed attention; entry i of 10 was seen by 10 - i prefill queries, so late entries weigh more per query
        float[][] acc = {{9, 0, 0, 0, 0, 0, 0, 0, 2, 1.5f}, {0, 0, 0, 0, 7, 6, 0, 0, 0, 0}};
        float[] a = new float[20];
        for (int h = 0; h < 2; h++) {
            System.arraycopy(acc[h], 0, a, h * 10, 10);
        }
        LayerView v = view(flat(2, 10), null);
        LayerView withAcc = new LayerView(0, 1, v.keys(), v.values(), null, m.create(a, new Shape(2, 10)));
        KeepPlan plan = Press.uniform(new H2oScorer(), 0.8).plan(withAcc); // 2 kept
        assertThat(plan.kept()[0]).as("0.9, 1.0, 1.5 per query").containsExactly(8, 9);
        assertThat(plan.kept()[1]).as("7/6 and 6/5 per query").containsExactly(4, 5);
    }

    @Test
    void pyramidBudgetsFollowKvpressWithinTheWindowBounds() {
        PyramidBudget p = new PyramidBudget(20, 32);
        // T 4000, ratio 0.5: min 100, max 3900, a step of 542.857 per layer, rounded half to even
        assertThat(p.schedule(8, 4000, 0.5)).containsExactly(3900, 3357, 2814, 2271, 1729, 1186, 643, 100);
        assertThat(IntStream.of(p.schedule(8, 4000, 0.5)).sum()).isEqualTo(8 * 2000);
        // the pyramid's bottom would fall below the window: every layer keeps the uniform share (SnapKV)
        assertThat(p.schedule(8, 1000, 0.75)).containsOnly(250);
        assertThat(p.schedule(8, 100, 0.25)).containsOnly(75);
        assertThat(p.schedule(8, 1000, 0.0)).containsOnly(1000);
        // max capped at T - window: the top layers share what the bottom cannot take
        int[] capped = p.schedule(8, 4000, 0.25);
        assertThat(capped[0]).isEqualTo(4000 - 32);
        assertThat(IntStream.of(capped).sum()).isBetween(8 * 3000 - 4, 8 * 3000 + 4);
    }

    @Test
    void adaKvMovesBudgetToTheHeadWithSpreadScoresAndKeepsTheSafeguard() {
        float[][] scores = {{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, {0, 0, 0, 0, 0, 0, 0, 0, 0, 100}};
        int[][] kept = new AdaKvHeads(0.2).select(scores, 4);
        assertThat(kept[0].length + kept[1].length).isEqualTo(8);
        assertThat(kept[1]).hasSize(1).contains(9); // ceil(0.2 * 4) = 1: only its safeguard
        assertThat(kept[0]).containsExactly(0, 1, 2, 3, 4, 5, 6);
    }

    @Test
    void selectionKeepsExactlyTheTopScoresPerHead() {
        assertThat(TopK.indices(new float[] {1, 1, 1, 1, 1}, 3)).as("ties go to later entries").containsExactly(2, 3, 4);
        assertThat(TopK.indices(new float[] {-0.5f, 2, -3, 0, -0f}, 2)).containsExactly(1, 3);
        Random rnd = new Random(7);
        for (int trial = 0; trial < 200; trial++) {
            int t = 1 + rnd.nextInt(60);
            int k = 1 + rnd.nextInt(t);
            float[] row = new float[t];
            for (int i = 0; i < t; i++) {
                row[i] = rnd.nextInt(5) == 0 ? Float.POSITIVE_INFINITY : rnd.nextInt(20); // ties and always-kept
            }
            int[] kept = TopK.indices(row, k);
            assertThat(kept.length).as("the budget is hard, +Inf entries included").isEqualTo(k);
            float minKept = Float.POSITIVE_INFINITY;
            for (int i : kept) {
                minKept = Math.min(minKept, row[i]);
            }
            for (int i = 0; i < t; i++) {
                if (Arrays.binarySearch(kept, i) < 0) {
                    assertThat(row[i]).isLessThanOrEqualTo(minKept); // nothing dropped beats anything kept
                }
            }
        }
    }

    @Test
    void methodObjectsValidateTheirParameters() {
        assertThatThrownBy(() -> new SnapKvScorer(4)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new StreamingLlmScorer(-1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Press.uniform(new KnormScorer(), 1.0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new AdaKvHeads(1.5)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new PyramidBudget(0.5, 32)).isInstanceOf(IllegalArgumentException.class);
    }
}
