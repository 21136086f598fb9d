package io.kvpilot.engine;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kvpilot.engine.model.RandomCheckpoint;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bad checkpoints fail loading with one CheckpointException naming the file or tensor — never a JVM crash. */
class BadCheckpointTest {

    @TempDir
    Path tmp;

    Path good(boolean tied, int shards) throws IOException {
        return RandomCheckpoint.write(tmp.resolve("ckpt"),
                RandomCheckpoint.Spec.llama(32, 1, 2, 1, 64, 50).with("LlamaForCausalLM", tied, "F32", shards, false), 1);
    }

    String failure(Path dir) {
        CheckpointException e = assertThrows(CheckpointException.class, () -> EngineLoader.load(dir).close());
        return e.getMessage();
    }

    void replaceInConfig(Path dir, String from, String to) throws IOException {
        Path config = dir.resolve("config.json");
        String text = Files.readString(config);
        assertTrue(text.contains(from), "test setup: " + from);
        Files.writeString(config, text.replace(from, to));
    }

    @Test
    void missingDirectory() {
        assertTrue(failure(tmp.resolve("nope")).contains("nope: checkpoint directory not found"));
    }

    @Test
    void missingConfig() throws IOException {
        Path dir = good(false, 1);
        Files.delete(dir.resolve("config.json"));
        assertTrue(failure(dir).contains("config.json: file not found"));
    }

    @Test
    void missingWeightsFile() throws IOException {
        Path dir = good(false, 1);
        Files.delete(dir.resolve("model.safetensors"));
        assertTrue(failure(dir).contains("no model.safetensors or model.safetensors.index.json"));
    }

    @Test
    void missingShard() throws IOException {
        Path dir = good(false, 2);
        Files.delete(dir.resolve("model-00002-of-00002.safetensors"));
        assertTrue(failure(dir).contains("model-00002-of-00002.safetensors: file not found"));
    }

    @Test
    void corruptSafetensorsHeaderLength() throws IOException {
        Path dir = good(false, 1);
        try (FileChannel ch = FileChannel.open(dir.resolve("model.safetensors"), StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, 1L << 40), 0);
        }
        String m = failure(dir);
        assertTrue(m.contains("model.safetensors") && m.contains("corrupt safetensors header"), m);
    }

    @Test
    void corruptSafetensorsHeaderJson() throws IOException {
        Path dir = good(false, 1);
        try (FileChannel ch = FileChannel.open(dir.resolve("model.safetensors"), StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap("#garbage#".getBytes()), 8);
        }
        String m = failure(dir);
        assertTrue(m.contains("model.safetensors") && m.contains("corrupt safetensors header"), m);
    }

    @Test
    void truncatedSafetensors() throws IOException {
        Path dir = good(false, 1);
        Path file = dir.resolve("model.safetensors");
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.truncate(ch.size() - 100);
        }
        String m = failure(dir);
        assertTrue(m.contains("model.safetensors") && m.contains("corrupt safetensors header for tensor"), m);
    }

    @Test
    void unsupportedArchitecture() throws IOException {
        Path dir = good(false, 1);
        replaceInConfig(dir, "LlamaForCausalLM", "GPT2LMHeadModel");
        String m = failure(dir);
        assertTrue(m.contains("config.json: unsupported architecture GPT2LMHeadModel"), m);
    }

    @Test
    void shapeMismatch() throws IOException {
        Path dir = good(false, 1);
        replaceInConfig(dir, "\"intermediate_size\": 64", "\"intermediate_size\": 48");
        String m = failure(dir);
        assertTrue(m.contains("model.layers.0.mlp.gate_proj.weight has shape [64, 32], config.json implies [48, 32]"), m);
    }

    @Test
    void missingTensor() throws IOException {
        Path dir = good(true, 1); // written tied: no lm_head.weight
        replaceInConfig(dir, "\"tie_word_embeddings\": true", "\"tie_word_embeddings\": false");
        String m = failure(dir);
        assertTrue(m.contains("missing tensor lm_head.weight"), m);
    }

    @Test
    void unsupportedRopeScaling() throws IOException {
        Path dir = good(false, 1);
        replaceInConfig(dir, "\"rope_theta\": 10000.0,", "\"rope_theta\": 10000.0, \"rope_scaling\": {\"type\": \"yarn\"},");
        assertTrue(failure(dir).contains("unsupported rope_scaling type yarn"));
    }
}
