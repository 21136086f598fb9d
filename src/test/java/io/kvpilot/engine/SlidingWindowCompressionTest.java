package io.kvpilot.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.kvpilot.kvcache.KvCompressionSpec;
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
        try (LlamaEngine engine = EngineLoader.load(model, EngineOptions.defaults())) {
            int[] prompt = {3, 4, 5, 6, 7, 8, 9, 10};
            SamplingParams greedy = SamplingParams.greedy(4);
            assertThatThrownBy(() -> engine.newSequence("e", prompt, greedy, new KvCompressionSpec("snapkv", 0.5, 16)))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("sliding window");
            Sequence quantized = engine.newSequence("q", prompt, greedy, new KvCompressionSpec("none", 0, 8));
            engine.prefill(List.of(quantized));
            for (int i = 0; i < 3 && !quantized.isFinished(); i++) {
                engine.decode(List.of(quantized));
            }
            assertThat(quantized.generatedCount()).isPositive();
            engine.release(quantized);
        }
    }
}
