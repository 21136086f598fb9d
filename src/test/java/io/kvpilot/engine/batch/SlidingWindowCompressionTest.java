package io.kvpilot.engine.batch;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.kvpilot.engine.EngineLoader;
import io.kvpilot.engine.EngineOptions;
import io.kvpilot.engine.SamplingParams;
import io.kvpilot.engine.Sequence;
import io.kvpilot.engine.model.RandomCheckpoint;
import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.kvcache.press.KvMethods;
import io.kvpilot.kvcache.quant.Int8KvStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Eviction and a sliding window do not mix (the window is read by slot); quantization alone does. */
class SlidingWindowCompressionTest {

    @TempDir
    Path dir;

    @Test
    void evictionIsRefusedOnAWindowedModelAndQuantizationIsServed() throws Exception {
        Path model = dir.resolve("mistral-window");
        RandomCheckpoint.write(model, RandomCheckpoint.Spec.llama(64, 2, 4, 2, 128, 97), 3);
        Path config = model.resolve("config.json");
        String json = Files.readString(config).replace("\"LlamaForCausalLM\"", "\"MistralForCausalLM\"")
                .replace("\"model_type\": \"llama\"", "\"model_type\": \"mistral\"");
        json = json.substring(0, json.lastIndexOf('}')) + ", \"sliding_window\": 16}";
        Files.writeString(config, json);
        // the real methods: an engine without them would store int8 requests dense and prove nothing
        try (LlamaEngine engine = EngineLoader.load(model, EngineOptions.defaults().withCompressors(KvMethods.defaults()))) {
            int[] prompt = new java.util.Random(4).ints(24, 3, 97).toArray(); // longer than the 16-token window
            SamplingParams greedy = SamplingParams.greedy(4);
            assertThatThrownBy(() -> engine.newSequence("e", prompt, greedy, new KvCompressionSpec("snapkv", 0.5, 16)))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("sliding window");
            Sequence quantized = engine.newSequence("q", prompt, greedy, new KvCompressionSpec("none", 0, 8));
            engine.prefill(List.of(quantized));
            for (int l = 0; l < engine.kvCache(quantized).layerCount(); l++) {
                assertThat(engine.kvCache(quantized).layer(l)).isInstanceOf(Int8KvStore.class);
            }
            assertThat(engine.kvCache(quantized).bytes()).isLessThan(engine.kvCache(quantized).bytesUncompressed());
            for (int i = 0; i < 3 && !quantized.isFinished(); i++) {
                engine.decode(List.of(quantized));
            }
            assertThat(quantized.generatedCount()).isEqualTo(4); // prefill's token and three decoded past the window
            engine.release(quantized);
            assertThat(engine.kvPool().bytesInUse()).isZero();
        }
    }
}
