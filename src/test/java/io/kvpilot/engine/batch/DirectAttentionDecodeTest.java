package io.kvpilot.engine.batch;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.kvpilot.engine.EngineLoader;
import io.kvpilot.engine.EngineOptions;
import io.kvpilot.engine.SamplingParams;
import io.kvpilot.engine.Sequence;
import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.kvcache.KvLayerStore;
import io.kvpilot.kvcache.press.KvMethod;
import io.kvpilot.kvcache.press.KvMethods;
import io.kvpilot.kvcache.quant.DirectAttention;
import io.kvpilot.kvcache.quant.KvFormat;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Decode attention on a store's own form ({@link DirectAttention}: int8 blocks, low-rank key coefficients) gives the
 * logits of attention on the same store's dequantized K/V: the fast path changes speed, never the numbers.
 */
class DirectAttentionDecodeTest {

    static final Path MODEL = Path.of("src/test/resources/parity/llama-f32");

    /** Hides a store's {@link DirectAttention}, so the engine reads {@code keys()/values()} as for a dense store. */
    record Plain(KvLayerStore inner) implements KvLayerStore {
        public int length() { return inner.length(); }
        public void append(NDArray keys, NDArray values) { inner.append(keys, values); }
        public void reserve(int entries) { inner.reserve(entries); }
        public NDArray keys(NDManager step) { return inner.keys(step); }
        public NDArray values(NDManager step) { return inner.values(step); }
        public NDArray attentionMask(NDManager step) { return inner.attentionMask(step); }
        public void retain(int[][] keep) { inner.retain(keep); }
        public long bytes() { return inner.bytes(); }
        public void close() { inner.close(); }
    }

    /** The same method, its stores wrapped in {@link Plain} as they are built. */
    static KvMethod withoutDirect(KvMethod m) {
        KvFormat plain = (pool, owner, keys, values, mask) -> {
            KvLayerStore store = m.format().build(pool, owner, keys, values, mask);
            assertThat(store).isInstanceOf(DirectAttention.class);
            return new Plain(store);
        };
        return new KvMethod(m.spec(), m.press(), plain, m.observationWindow());
    }

    static List<float[]> decodeLogits(KvCompressionSpec spec, boolean direct) {
        KvMethods methods = KvMethods.defaults();
        EngineOptions options = EngineOptions.defaults().withCompressors(
                s -> direct ? methods.create(s) : withoutDirect(methods.create(s)));
        try (LlamaEngine engine = EngineLoader.load(MODEL, options)) {
            int[] prompt = new int[90];
            for (int i = 0; i < prompt.length; i++) {
                prompt[i] = 3 + (11 * i) % 400;
            }
            Sequence seq = engine.newSequence("d", prompt, new SamplingParams(0, 1, 0, 0L, 40, List.of(), true), spec);
            engine.prefill(List.of(seq));
            assertThat(seq.isFinished()).as("finished after prefill: %s", seq.finishReason()).isFalse();
            List<float[]> rows = new ArrayList<>();
            for (int i = 0; i < 24; i++) {
                rows.add(engine.decodeWithLogits(List.of(seq)).get(0));
            }
            engine.release(seq);
            return rows;
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"none:8", "snapkv:8", "adakv_knorm:8", "lowrank_keys:16"})
    void directAttentionMatchesAttentionOnTheDequantizedCache(String cell) {
        String[] p = cell.split(":");
        KvCompressionSpec spec = new KvCompressionSpec(p[0], p[0].equals("none") ? 0.0 : 0.5, Integer.parseInt(p[1]));
        List<float[]> direct = decodeLogits(spec, true);
        List<float[]> plain = decodeLogits(spec, false);
        for (int step = 0; step < direct.size(); step++) {
            float[] a = direct.get(step);
            float[] b = plain.get(step);
            for (int i = 0; i < a.length; i++) {
                assertThat(a[i]).as("step %d logit %d", step, i).isCloseTo(b[i], org.assertj.core.data.Offset.offset(1e-4f));
            }
        }
    }
}
