package io.kvpilot.kvcache.quant;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.kvpilot.kvcache.KvBlockPool;
import io.kvpilot.kvcache.KvLayerStore;
import java.util.Random;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;

/** quantize → dequantize stays within each format's bound; packed bytes are really b/8; attention reads the blocks. */
class QuantizationTest {

    @AutoClose
    static final NDManager m = NDManager.newBaseManager();

    static float[] gaussian(int n, long seed) {
        Random rnd = new Random(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (rnd.nextGaussian() * (i % 64 == 3 ? 8 : 1)); // an outlier channel, as real keys have
        }
        return x;
    }

    @Test
    void packingRoundTripsExactlyAndHoldsBitsOverEightBytes() {
        for (int bits : new int[] {4, 2}) {
            float[] codes = new float[4 * 64];
            Random rnd = new Random(bits);
            for (int i = 0; i < codes.length; i++) {
                codes[i] = rnd.nextInt(1 << bits);
            }
            NDArray packed = Packing.pack(m.create(codes, new Shape(4, 64)), bits);
            assertThat(packed.getDataType()).isEqualTo(DataType.UINT8);
            assertThat(packed.getShape()).isEqualTo(new Shape(4, 64 * bits / 8));
            assertThat(Packing.unpack(packed, bits).toFloatArray()).containsExactly(codes);
        }
    }

    @Test
    void int8ErrorIsAtMostHalfAScaleStepPerToken() {
        KvBlockPool pool = new KvBlockPool(Long.MAX_VALUE);
        float[] x = gaussian(2 * 50 * 64, 1);
        NDArray a = m.create(x, new Shape(2, 50, 64));
        try (NDManager s = m.newSubManager(); Int8KvStore store = new Int8KvStore(pool, s, a, a, null)) {
            float[] back = store.keys(s).toFloatArray();
            for (int row = 0; row < 100; row++) {
                float max = 0;
                for (int c = 0; c < 64; c++) {
                    max = Math.max(max, Math.abs(x[row * 64 + c]));
                }
                for (int c = 0; c < 64; c++) {
                    assertThat(Math.abs(back[row * 64 + c] - x[row * 64 + c])).isLessThanOrEqualTo(max / 127 / 2 * 1.001f);
                }
            }
            // capacity 64 entries per head (50 rounded up to whole 32-token blocks), 2 heads: codes + fp32 scales, K and V
            assertThat(store.bytes()).isEqualTo(pool.bytesInUse()).isEqualTo(2L * (2 * 64 * 64 + 2 * 64 * 4));
        }
        assertThat(pool.bytesInUse()).isZero();
    }

    @Test
    void kiviErrorIsWithinHalfAStepOfItsGroupAndTheWindowStaysExact() {
        for (int bits : new int[] {4, 2}) {
            KvBlockPool pool = new KvBlockPool(Long.MAX_VALUE);
            int t = 100; // 64 quantized (2 groups of 32) + 36 in the window (R = 32, G = 32)
            float[] x = gaussian(t * 64, bits);
            NDArray a = m.create(x, new Shape(1, t, 64));
            KiviFormat f = new KiviFormat(bits, 32, 32);
            try (NDManager s = m.newSubManager(); KvLayerStore store = f.build(pool, s, a, a, null)) {
                float[] k = store.keys(s).toFloatArray();
                float[] v = store.values(s).toFloatArray();
                int levels = (1 << bits) - 1;
                for (int tok = 0; tok < t; tok++) {
                    for (int c = 0; c < 64; c++) {
                        int i = tok * 64 + c;
                        if (tok >= 64) { // fp16 window
                            assertThat(Math.abs(k[i] - x[i])).isLessThanOrEqualTo(Math.abs(x[i]) * 1e-3f + 1e-6f);
                            continue;
                        }
                        float kMin = Float.MAX_VALUE, kMax = -Float.MAX_VALUE; // per channel over the token group
                        for (int u = tok / 32 * 32; u < tok / 32 * 32 + 32; u++) {
                            kMin = Math.min(kMin, x[u * 64 + c]);
                            kMax = Math.max(kMax, x[u * 64 + c]);
                        }
                        float vMin = Float.MAX_VALUE, vMax = -Float.MAX_VALUE; // per token over the channel group
                        for (int d = c / 32 * 32; d < c / 32 * 32 + 32; d++) {
                            vMin = Math.min(vMin, x[tok * 64 + d]);
                            vMax = Math.max(vMax, x[tok * 64 + d]);
                        }
                        // half a step, plus fp16 rounding of scale and zero point (relative 2^-11 each)
                        float kBound = (kMax - kMin) / levels / 2 * 1.01f + Math.abs(kMin) * 1e-3f + 1e-4f;
                        float vBound = (vMax - vMin) / levels / 2 * 1.01f + Math.abs(vMin) * 1e-3f + 1e-4f;
                        assertThat(Math.abs(k[i] - x[i])).as("key bits %d", bits).isLessThanOrEqualTo(kBound);
                        assertThat(Math.abs(v[i] - x[i])).as("value bits %d", bits).isLessThanOrEqualTo(vBound);
                    }
                }
                long codes = 2L * 64 * 64 * bits / 8; // K and V, room for exactly the 64 quantized tokens
                long scales = 2L * 64 * 2 * 2 + 2L * 64 * 2 * 2; // key: 2 groups x 64 ch; value: 64 tok x 2 groups
                long window = 2L * 64 * 64 * 2; // fp16 window buffers of R + G = 64 tokens, K and V
                assertThat(store.bytes()).isEqualTo(codes + scales + window).isEqualTo(pool.bytesInUse());
            }
            assertThat(pool.bytesInUse()).isZero();
        }
    }

    @Test
    void kiviQuantizesTheWindowAGroupAtATimeAsDecodingAppends() {
        KvBlockPool pool = new KvBlockPool(Long.MAX_VALUE);
        NDArray a = m.create(gaussian(40 * 64, 3), new Shape(1, 40, 64));
        try (NDManager s = m.newSubManager(); KvLayerStore store = new KiviFormat(4, 32, 32).build(pool, s, a, a, null)) {
            long window = 2L * 64 * 64 * 2; // K and V window buffers of R + G = 64 tokens, fp16
            long group = 2L * 32 * 64 / 2 + 2L * 64 * 2 + 2L * 32 * 2 * 2; // codes + key scales/zeros + value ones
            assertThat(store.bytes()).as("40 in the window, room for one quantized group").isEqualTo(window + group);
            for (int i = 0; i < 24; i++) {
                store.append(a.get(":, 0:1"), a.get(":, 0:1"));
            }
            assertThat(store.length()).isEqualTo(64);
            assertThat(((KiviKvStore) store).quantized()).as("the 64th token flushed the oldest group").isEqualTo(32);
            assertThat(store.bytes()).as("64 tokens: 32 quantized + 32 window, no growth").isEqualTo(window + group);
            for (int i = 0; i < 32; i++) {
                store.append(a.get(":, 0:1"), a.get(":, 0:1"));
            }
            assertThat(((KiviKvStore) store).quantized()).isEqualTo(64);
            assertThat(store.bytes()).as("grown to two groups").isEqualTo(window + 2 * group);
            assertThat(store.bytes()).isEqualTo(pool.bytesInUse());
        }
    }

    @Test
    void int8StoreAppendsInPlaceAndGrowsGeometrically() {
        KvBlockPool pool = new KvBlockPool(Long.MAX_VALUE);
        float[] x = gaussian(2 * 300 * 64, 7);
        NDArray a = m.create(x, new Shape(2, 300, 64));
        try (NDManager s = m.newSubManager(); Int8KvStore store = new Int8KvStore(pool, s, a.get(":, 0:1"),
                a.get(":, 0:1"), null)) {
            java.util.List<Integer> capacities = new java.util.ArrayList<>();
            float[] row = new float[2 * 2 * 64]; // one token: K heads 0..1 then V heads 0..1
            for (int t = 1; t < 300; t++) {
                for (int h = 0; h < 2; h++) {
                    System.arraycopy(x, (h * 300 + t) * 64, row, h * 64, 64);
                    System.arraycopy(x, (h * 300 + t) * 64, row, (2 + h) * 64, 64);
                }
                store.appendRows(row, 0, row.length, 0, 128, 1);
                if (capacities.isEmpty() || capacities.get(capacities.size() - 1) != store.capacity()) {
                    capacities.add(store.capacity());
                }
            }
            // a block at a time up to 256 entries, then an eighth more each time: 9 copies for 300 tokens, not 299
            assertThat(capacities).containsExactly(32, 64, 96, 128, 160, 192, 224, 256, 288, 352);
            assertThat(store.length()).isEqualTo(300);
            float[] back = store.keys(s).toFloatArray(); // appended rows read back as the bulk constructor's
            try (Int8KvStore bulk = new Int8KvStore(pool, s, a, a, null)) {
                assertThat(back).containsExactly(bulk.keys(s).toFloatArray());
                assertThat(store.values(s).toFloatArray()).containsExactly(bulk.values(s).toFloatArray());
            }
            assertThat(store.bytes()).isEqualTo(pool.bytesInUse()).isEqualTo(2L * (2 * 352 * 64 + 2 * 352 * 4));
        }
        assertThat(pool.bytesInUse()).isZero();
    }

    @Test
    void int8AttentionOnTheBlocksEqualsAttentionOnTheDequantizedCache() {
        KvBlockPool pool = new KvBlockPool(Long.MAX_VALUE);
        NDArray k = m.create(gaussian(2 * 30 * 64, 4), new Shape(2, 30, 64));
        NDArray v = m.create(gaussian(2 * 30 * 64, 5), new Shape(2, 30, 64));
        NDArray q = m.create(gaussian(2 * 3 * 64, 6), new Shape(2, 3, 64)).mul(0.125f);
        try (NDManager s = m.newSubManager(); Int8KvStore store = new Int8KvStore(pool, s, k, v, null)) {
            float[] direct = store.attend(q, s).toFloatArray();
            float[] reference = q.matMul(store.keys(s).transpose(0, 2, 1)).softmax(-1).matMul(store.values(s))
                    .toFloatArray();
            for (int i = 0; i < direct.length; i++) {
                assertThat(direct[i]).isCloseTo(reference[i], org.assertj.core.data.Offset.offset(1e-4f));
            }
        }
    }
}
