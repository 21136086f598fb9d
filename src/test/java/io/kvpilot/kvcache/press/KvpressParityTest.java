package io.kvpilot.kvcache.press;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import io.kvpilot.engine.EngineLoader;
import io.kvpilot.engine.EngineOptions;
import io.kvpilot.engine.batch.LlamaEngine;
import io.kvpilot.engine.SamplingParams;
import io.kvpilot.engine.Sequence;
import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.kvcache.KvCompressor;
import io.kvpilot.kvcache.PrefillObservation;
import io.kvpilot.kvcache.SequenceKvCache;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * KVPilot's eviction methods keep the entries NVIDIA kvpress 0.5.4 keeps, per layer and KV head, on the default
 * model and the same token ids (fixtures by {@code training/kvpress_fixtures.py}, run with transformers in fp32 on a
 * GPU machine; the methods' pairs are listed there). kvpress computes on the GPU and KVPilot on the CPU, so scores
 * differ in their last bits, and an entry whose score ties the selection boundary within that noise may go either way
 * (layer 0 of a passkey prompt holds many keys of the same filler token, whose norms tie exactly but for rounding).
 * Every entry kept differently must be such a tie: its KVPilot score within 2e-4 (relative) of the head's boundary.
 * The test prints how many entries differ.
 */
class KvpressParityTest {

    static final Path FIXTURE = Path.of("src/test/resources/kvpress/kept.json");
    static JsonNode fixture;
    static LlamaEngine engine;
    static KvCompressor current;

    @BeforeAll
    static void load() throws IOException {
        fixture = JsonMapper.builder().build().readTree(Files.readString(FIXTURE));
        engine = EngineLoader.load(Path.of("models/kvpilot-mini"),
                EngineOptions.defaults().withCompressors(spec -> current));
    }

    @AfterAll
    static void close() {
        engine.close();
    }

    static Stream<Arguments> cases() throws IOException {
        JsonNode f = JsonMapper.builder().build().readTree(Files.readString(FIXTURE));
        List<Arguments> out = new ArrayList<>();
        for (int i = 0; i < f.get("cases").size(); i++) {
            JsonNode c = f.get("cases").get(i);
            out.add(Arguments.of(c.get("method").asString(), c.get("ratio").asDouble(), c.get("prompt").asInt(), i));
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} at {1}, prompt {2}")
    @MethodSource("cases")
    void keepsWhatKvpressKeeps(String method, double ratio, int prompt, int index) {
        JsonNode c = fixture.get("cases").get(index);
        int[] ids = ids(fixture.get("prompts").get(prompt).get("ids"));
        KvMethod m = KvMethods.defaults().create(new KvCompressionSpec(method, ratio, 16));
        List<KeepPlan> plans = new ArrayList<>();
        List<float[][]> scores = new ArrayList<>();
        current = new KvCompressor() {
            @Override
            public int observationWindow() {
                return m.observationWindow();
            }

            @Override
            public boolean wantsAttentionSums() {
                return m.wantsAttentionSums();
            }

            @Override
            public void afterPrefill(SequenceKvCache cache, PrefillObservation obs) {
                for (int l = 0; l < cache.layerCount(); l++) {
                    try (NDManager scope = cache.manager().newSubManager()) {
                        LayerView view = m.view(cache, l, obs, scope);
                        plans.add(m.plan(view));
                        int keep = m.press().budgets().keep(l, cache.layerCount(), view.tokens(), ratio);
                        scores.add(m.press().scores(view, keep));
                    }
                }
            }
        };
        Sequence seq = engine.newSequence("parity", ids, SamplingParams.greedy(1), new KvCompressionSpec(method, ratio, 16));
        engine.prefill(List.of(seq));
        engine.release(seq);

        int t = ids.length, differing = 0, entries = 0;
        for (int l = 0; l < plans.size(); l++) {
            for (int h = 0; h < plans.get(l).kept().length; h++) {
                String[] ref = c.get("kept").get(l).get(h).asString().split(":");
                BitSet expected = bits(new BigInteger(ref[0], 16), t);
                assertThat(expected.cardinality()).isEqualTo(Integer.parseInt(ref[1]));
                BitSet actual = new BitSet(t);
                for (int i : plans.get(l).kept()[h]) {
                    actual.set(i);
                }
                assertThat(actual.cardinality()).as("layer %d head %d: kept count", l, h)
                        .isEqualTo(expected.cardinality());
                BitSet diff = (BitSet) actual.clone();
                diff.xor(expected);
                float[] sc = scores.get(l)[h];
                float minKept = Float.POSITIVE_INFINITY, maxDropped = Float.NEGATIVE_INFINITY;
                for (int i = 0; i < t; i++) {
                    if (actual.get(i)) {
                        minKept = Math.min(minKept, sc[i]);
                    } else {
                        maxDropped = Math.max(maxDropped, sc[i]);
                    }
                }
                for (int i = diff.nextSetBit(0); i >= 0; i = diff.nextSetBit(i + 1)) {
                    float boundary = actual.get(i) ? maxDropped : minKept; // what it would have had to beat
                    float gap = Math.abs(sc[i] - boundary) / Math.max(1e-3f, Math.abs(boundary));
                    assertThat(gap).as("layer %d head %d entry %d: score %s, boundary %s", l, h, i, sc[i], boundary)
                            .isLessThanOrEqualTo(2e-4f);
                }
                differing += diff.cardinality() / 2;
                entries += expected.cardinality();
            }
        }
        System.out.printf("kvpress parity %s %.2f prompt %d: %d of %d kept entries differ, all rounding ties%n", method,
                ratio, prompt, differing, entries);
    }

    static int[] ids(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asInt();
        }
        return out;
    }

    static BitSet bits(BigInteger mask, int t) {
        BitSet b = new BitSet(t);
        for (int i = 0; i < t; i++) {
            if (mask.testBit(i)) {
                b.set(i);
            }
        }
        return b;
    }
}
