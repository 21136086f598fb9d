package io.kvpilot.kvcache.lowrank;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.kvpilot.kvcache.KvBlockPool;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;

/**
 * The low-rank-keys store appends in place: each new key projected onto the basis straight into capacity buffers that
 * grow geometrically (no concatenation per token), read back as the projection {@code k U Uᵀ}, values exact, bytes
 * what the pool counts; a head-ragged compaction keeps its padding described for in-place readers.
 */
class LowRankKeysStoreTest {

    @AutoClose
    static final NDManager m = NDManager.newBaseManager();

    static float[] gaussian(int n, long seed) {
        Random r = new Random(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return x;
    }

    @Test
    void appendsProjectIntoCapacityBuffersInPlace() {
        KvBlockPool pool = new KvBlockPool(Long.MAX_VALUE);
        float[] x = gaussian(2 * 300 * 64, 3);
        NDArray a = m.create(x, new Shape(2, 300, 64));
        try (NDManager s = m.newSubManager()) {
            LowRankKeysStore store = (LowRankKeysStore) new LowRankKeysFormat(0.5).build(pool, s, a.get(":, 0:40"),
                    a.get(":, 0:40"), null);
            assertThat(store.rank()).isEqualTo(32);
            List<Integer> capacities = new ArrayList<>(List.of(store.capacity()));
            float[] row = new float[2 * 2 * 64]; // one token: K heads 0..1 then V heads 0..1
            for (int t = 40; t < 300; t++) {
                for (int h = 0; h < 2; h++) {
                    System.arraycopy(x, (h * 300 + t) * 64, row, h * 64, 64);
                    System.arraycopy(x, (h * 300 + t) * 64, row, (2 + h) * 64, 64);
                }
                store.appendRows(row, 0, row.length, 0, 128, 1);
                if (capacities.get(capacities.size() - 1) != store.capacity()) {
                    capacities.add(store.capacity());
                }
            }
            assertThat(capacities).containsExactly(64, 96, 128, 160, 192, 224, 256, 288, 352);
            assertThat(store.length()).isEqualTo(300);
            float[] basis = new float[2 * 64 * 32];
            store.views()[0].asFloatBuffer().get(basis);
            NDArray u = s.create(basis, new Shape(2, 64, 32));
            float[] expected = a.matMul(u).matMul(u.transpose(0, 2, 1)).toFloatArray();
            float[] keys = store.keys(s).toFloatArray();
            for (int i = 0; i < keys.length; i++) {
                assertThat(keys[i]).as("key float %d", i).isCloseTo(expected[i], within(1e-4f));
            }
            assertThat(store.values(s).toFloatArray()).containsExactly(x);
            assertThat(store.bytes()).isEqualTo(pool.bytesInUse())
                    .isEqualTo(4L * (2 * 64 * 32 + 2 * 352 * 32 + 2 * 352 * 64));

            store.retain(new int[][] {{0, 5, 299}, {7}});
            assertThat(store.length()).isEqualTo(3);
            assertThat(store.ragged()).isTrue();
            assertThat(store.padding().from()).containsExactly(3, 1);
            assertThat(store.padding().to()).isEqualTo(3);
            assertThat(store.values(s).toFloatArray()[2 * 64]).as("head 0's third entry is token 299")
                    .isEqualTo(x[299 * 64]);
            assertThat(store.bytes()).isEqualTo(pool.bytesInUse())
                    .isEqualTo(4L * (2 * 64 * 32 + 2 * 32 * 32 + 2 * 32 * 64) + 4L * 2 * 3); // + the mask
            store.close();
        }
        assertThat(pool.bytesInUse()).isZero();
    }
}
