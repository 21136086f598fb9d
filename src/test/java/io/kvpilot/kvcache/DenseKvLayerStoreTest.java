package io.kvpilot.kvcache;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;

/** Byte accounting, growth, compaction (uniform and ragged) and release of the dense store, without a model. */
class DenseKvLayerStoreTest {

    static final int K = 2, D = 4;
    @AutoClose
    final NDManager manager = NDManager.newBaseManager("PyTorch");
    final KvBlockPool pool = new KvBlockPool(Long.MAX_VALUE);

    /** Entries whose every element is its token index t (keys) or -t (values). */
    void appendTokens(KvLayerStore store, int from, int count) {
        float[] k = new float[K * count * D];
        for (int h = 0; h < K; h++) {
            for (int t = 0; t < count; t++) {
                for (int d = 0; d < D; d++) {
                    k[(h * count + t) * D + d] = from + t + 100 * h;
                }
            }
        }
        try (NDManager step = manager.newSubManager()) {
            NDArray keys = step.create(k, new Shape(K, count, D));
            store.append(keys, keys.neg());
        }
    }

    float[] keyColumn(KvLayerStore store, int head) {
        try (NDManager step = manager.newSubManager()) {
            NDArray keys = store.keys(step);
            float[] all = keys.toFloatArray();
            int n = store.length();
            float[] col = new float[n];
            for (int t = 0; t < n; t++) {
                col[t] = all[(head * n + t) * D];
            }
            return col;
        }
    }

    @Test
    void bytesAreWholeBlocksAndReturnToZero() {
        long perToken = 2L * K * D * 4;
        try (DenseKvLayerStore store = new DenseKvLayerStore(pool, manager, K, D, 5)) {
            assertEquals(KvBlockPool.BLOCK_TOKENS * perToken, store.bytes());
            appendTokens(store, 0, KvBlockPool.BLOCK_TOKENS + 1); // one growth
            assertEquals(2 * KvBlockPool.BLOCK_TOKENS * perToken, store.bytes());
            assertEquals(store.bytes(), pool.bytesInUse());
            assertArrayEquals(new float[] {0, 1, 2}, java.util.Arrays.copyOf(keyColumn(store, 0), 3));
            assertEquals(KvBlockPool.BLOCK_TOKENS, keyColumn(store, 1)[KvBlockPool.BLOCK_TOKENS] - 100);
        }
        assertEquals(0, pool.bytesInUse());
    }

    @Test
    void uniformRetainKeepsChosenEntriesAndFreesMemory() {
        try (DenseKvLayerStore store = new DenseKvLayerStore(pool, manager, K, D, 80)) {
            appendTokens(store, 0, 70);
            long before = pool.bytesInUse();
            store.retain(new int[][] {{69, 3, 10}, {0, 1, 2}});
            assertEquals(3, store.length());
            assertArrayEquals(new float[] {3, 10, 69}, keyColumn(store, 0));
            assertArrayEquals(new float[] {100, 101, 102}, keyColumn(store, 1));
            try (NDManager step = manager.newSubManager()) {
                assertNull(store.attentionMask(step));
            }
            assertEquals(store.bytes(), pool.bytesInUse());
            assertEquals(before / 3, pool.bytesInUse()); // 96 → 32 token slots
            appendTokens(store, 70, 1); // decoding continues after compaction
            assertArrayEquals(new float[] {3, 10, 69, 70}, keyColumn(store, 0));
        }
        assertEquals(0, pool.bytesInUse());
    }

    @Test
    void raggedRetainMasksPadding() {
        try (DenseKvLayerStore store = new DenseKvLayerStore(pool, manager, K, D, 10)) {
            appendTokens(store, 0, 10);
            store.retain(new int[][] {{1, 2, 3}, {4}});
            appendTokens(store, 10, 1);
            try (NDManager step = manager.newSubManager()) {
                float[] mask = store.attentionMask(step).toFloatArray(); // [K, 1, 4]
                float inf = Float.NEGATIVE_INFINITY;
                assertArrayEquals(new float[] {0, 0, 0, 0, 0, inf, inf, 0}, mask);
                assertArrayEquals(new int[] {3, 1}, store.padding().from(), "head 1 padded from its one entry");
                assertEquals(3, store.padding().to());
                HeadPadding read = HeadPadding.of(mask, K, 4);
                assertArrayEquals(store.padding().from(), read.from(), "the mask describes the same padding");
                assertEquals(3, read.to());
            }
            assertEquals(store.bytes(), pool.bytesInUse());
        }
        assertEquals(0, pool.bytesInUse());
    }

    @Test
    void budgetIsEnforcedBeforeAllocating() {
        KvBlockPool small = new KvBlockPool(3L * KvBlockPool.BLOCK_TOKENS * K * D * 4);
        DenseKvLayerStore store = new DenseKvLayerStore(small, manager, K, D, 1); // 2 of 3 units
        assertThrows(KvBudgetExceededException.class, () -> appendTokens(store, 0, KvBlockPool.BLOCK_TOKENS + 1));
        store.close();
        store.close(); // idempotent
        assertEquals(0, small.bytesInUse());
    }
}
