package io.kvpilot.kvcache.press;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import io.kvpilot.kvcache.KvBlockPool;
import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.kvcache.KvLayout;
import io.kvpilot.kvcache.PrefillObservation;
import io.kvpilot.kvcache.SequenceKvCache;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** One matrix over every registered method: identity at ratio 0 / 16 bits, bytes held = bytes counted, bytes fall. */
class MethodMatrixTest {

    static final KvLayout LAYOUT = new KvLayout(3, 2, 32, 4);
    static final int TOKENS = 400;
    static final int HEADS = 4; // 2 query heads per KV head
    @AutoClose
    static final NDManager m = NDManager.newBaseManager();

    static Stream<String> methods() {
        return KvMethods.defaults().names().stream().filter(n -> !n.equals("none"));
    }

    static Stream<Arguments> methodsAndBits() {
        List<Arguments> out = new ArrayList<>();
        methods().forEach(n -> {
            for (int bits : new int[] {16, 8, 4, 2}) {
                if (!n.equals("lowrank_keys") || bits == 16) {
                    out.add(Arguments.of(n, bits));
                }
            }
        });
        return out.stream();
    }

    /** Compresses a fresh random cache; returns its bytes, checking they equal what the pool counts. */
    static long compressedBytes(String name, double ratio, int bits) {
        KvBlockPool pool = new KvBlockPool(Long.MAX_VALUE);
        KvMethods registry = KvMethods.defaults();
        try (NDManager scope = m.newSubManager();
                SequenceKvCache cache = KvFixtures.filled(pool, scope, LAYOUT, TOKENS, 1)) {
            var method = registry.create(new KvCompressionSpec(name, ratio, bits));
            PrefillObservation obs = KvFixtures.observation(scope, LAYOUT.layers(), HEADS,
                    Math.max(1, method.observationWindow()), TOKENS, 2);
            method.afterPrefill(cache, obs);
            assertThat(cache.bytes()).as("bytes reported = bytes held in the pool").isEqualTo(pool.bytesInUse());
            int expectedKept = BudgetSchedule.uniformKeep(TOKENS, ratio);
            if (!method.name().equals("lowrank_keys") && !method.name().equals("pyramidkv")) {
                assertThat(cache.layer(0).length()).isGreaterThanOrEqualTo(Math.min(expectedKept, TOKENS));
            }
            assertThat(cache.positions()).as("eviction never moves the next position").isEqualTo(TOKENS);
            long bytes = cache.bytes();
            cache.close();
            assertThat(pool.bytesInUse()).as("closing returns every byte").isZero();
            return bytes;
        }
    }

    @ParameterizedTest
    @MethodSource("methodsAndBits")
    void bytesFallWithTheRatioAndMatchThePool(String method, int bits) {
        long prev = Long.MAX_VALUE / 2;
        long first = 0;
        // KIVI keeps R..R+G-1 tokens in its fp16 window, so its bytes are a sawtooth in the kept count: one group of
        // fp16 tokens per layer is the most a smaller cache can hold beyond a larger one.
        long slack = bits < 8 ? LAYOUT.layers() * 32L * LAYOUT.kvHeads() * LAYOUT.headDim() * 2 * 2 : 0;
        for (double ratio : new double[] {0.0, 0.25, 0.5, 0.75}) {
            long b = compressedBytes(method, ratio, bits);
            assertThat(b).as("%s bits %d ratio %s", method, bits, ratio).isLessThanOrEqualTo(prev + slack);
            if (ratio == 0.0) {
                first = b;
            }
            prev = b;
        }
        assertThat(prev).as("ratio 0.75 holds well under ratio 0").isLessThan(first * 2 / 3);
    }

    @ParameterizedTest
    @MethodSource("methods")
    void ratioZeroAt16BitsLeavesTheCacheBitIdentical(String method) {
        KvBlockPool pool = new KvBlockPool(Long.MAX_VALUE);
        try (NDManager scope = m.newSubManager();
                SequenceKvCache cache = KvFixtures.filled(pool, scope, LAYOUT, TOKENS, 3);
                SequenceKvCache reference = KvFixtures.filled(pool, scope, LAYOUT, TOKENS, 3)) {
            KvMethods.defaults().create(new KvCompressionSpec(method, 0.0, 16))
                    .afterPrefill(cache, KvFixtures.observation(scope, 3, HEADS, 32, TOKENS, 4));
            for (int l = 0; l < LAYOUT.layers(); l++) {
                assertThat(cache.layer(l).keys(scope).toFloatArray())
                        .isEqualTo(reference.layer(l).keys(scope).toFloatArray());
                assertThat(cache.layer(l).values(scope).toFloatArray())
                        .isEqualTo(reference.layer(l).values(scope).toFloatArray());
                assertThat(cache.layer(l).attentionMask(scope)).isNull();
            }
            assertThat(cache.bytes()).isEqualTo(reference.bytes());
        }
    }

    @Test
    void quantizedBitsHoldFewerBytesThanDense() {
        long b16 = compressedBytes("snapkv", 0.5, 16);
        long b8 = compressedBytes("snapkv", 0.5, 8);
        long b4 = compressedBytes("snapkv", 0.5, 4);
        long b2 = compressedBytes("snapkv", 0.5, 2);
        assertThat(b8).isLessThan(b16 / 3);
        assertThat(b4).isLessThan(b8);
        assertThat(b2).isLessThan(b4);
    }

    @Test
    void registryNamesMatchTheApiAndUsersCanAddMethods() {
        KvMethods registry = KvMethods.defaults();
        assertThat(registry.names()).contains("none", "streaming_llm", "h2o", "snapkv", "pyramidkv", "tova", "knorm",
                "keydiff", "adakv_snapkv", "chunkkv_keydiff", "lowrank_keys");
        registry.register("my_press", KvMethods.eviction(new KnormScorer(), BudgetSchedule.UNIFORM,
                HeadAllocation.UNIFORM));
        assertThat(registry.create(new KvCompressionSpec("my_press", 0.5, 4)).press().scorer())
                .isInstanceOf(KnormScorer.class);
        assertThatThrownBy(() -> registry.create(new KvCompressionSpec("nope", 0.5, 16)))
                .hasMessageContaining("unknown kv_compression method 'nope'");
        assertThatThrownBy(() -> registry.register("snapkv", KvMethods.eviction(new KnormScorer(),
                BudgetSchedule.UNIFORM, HeadAllocation.UNIFORM))).hasMessageContaining("already registered");
        assertThatThrownBy(() -> registry.create(new KvCompressionSpec("lowrank_keys", 0.5, 4)))
                .hasMessageContaining("bits must be 16");
    }
}
