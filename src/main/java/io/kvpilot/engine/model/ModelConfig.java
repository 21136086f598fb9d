package io.kvpilot.engine.model;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.kvpilot.engine.CheckpointException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The parts of a Hugging Face {@code config.json} (plus {@code generation_config.json}) that a LLaMA-family forward
 * pass needs. LLaMA, Mistral and Qwen2 differ only in q/k/v biases (Qwen2) and defaults.
 */
public record ModelConfig(
        String architecture,
        int hiddenSize,
        int layers,
        int heads,
        int kvHeads,
        int headDim,
        int intermediateSize,
        int vocabSize,
        int contextLength,
        double rmsNormEps,
        double ropeTheta,
        Llama3RopeScaling ropeScaling,
        boolean tiedEmbeddings,
        boolean qkvBias,
        int slidingWindow,
        Set<Integer> eosIds) {

    static final Set<String> SUPPORTED = Set.of("LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM");

    /** rope_scaling of type llama3 (Llama 3.1+): long wavelengths slowed down by {@code factor}, smoothly. */
    public record Llama3RopeScaling(double factor, double lowFreqFactor, double highFreqFactor, int originalContext) {}

    public static ModelConfig load(Path dir) {
        Path file = dir.resolve("config.json");
        JsonObject c = readJson(file);
        String arch = c.has("architectures") && c.get("architectures").isJsonArray()
                        && !c.getAsJsonArray("architectures").isEmpty()
                ? c.getAsJsonArray("architectures").get(0).getAsString()
                : null;
        if (arch == null || !SUPPORTED.contains(arch)) {
            throw new CheckpointException(file + ": unsupported architecture " + arch + " (supported: "
                    + String.join(", ", new java.util.TreeSet<>(SUPPORTED)) + ")");
        }
        try {
            int hidden = req(c, "hidden_size", file);
            int heads = req(c, "num_attention_heads", file);
            int kvHeads = optInt(c, "num_key_value_heads", heads);
            int headDim = optInt(c, "head_dim", hidden / heads);
            if (heads % kvHeads != 0) {
                throw new CheckpointException(file + ": num_attention_heads " + heads
                        + " is not a multiple of num_key_value_heads " + kvHeads);
            }
            if (headDim % 2 != 0) {
                throw new CheckpointException(file + ": head_dim " + headDim + " must be even for RoPE");
            }
            String act = c.has("hidden_act") ? c.get("hidden_act").getAsString() : "silu";
            if (!act.equals("silu")) {
                throw new CheckpointException(file + ": unsupported hidden_act " + act + " (only silu)");
            }
            if (optBool(c, "mlp_bias", false)) {
                throw new CheckpointException(file + ": mlp_bias=true is not supported");
            }
            boolean qwen = arch.equals("Qwen2ForCausalLM");
            boolean qkvBias = qwen || optBool(c, "attention_bias", false);
            int window = 0;
            if (c.has("sliding_window") && !c.get("sliding_window").isJsonNull()
                    && (!qwen || optBool(c, "use_sliding_window", false))) {
                window = c.get("sliding_window").getAsInt();
            }
            return new ModelConfig(arch, hidden, req(c, "num_hidden_layers", file), heads, kvHeads, headDim,
                    req(c, "intermediate_size", file), req(c, "vocab_size", file),
                    optInt(c, "max_position_embeddings", 2048), optDouble(c, "rms_norm_eps", 1e-6),
                    ropeTheta(c), ropeScaling(c, file),
                    optBool(c, "tie_word_embeddings", false), qkvBias, window, eosIds(dir, c));
        } catch (CheckpointException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new CheckpointException(file + ": malformed config (" + e.getMessage() + ")", e);
        }
    }

    /** rope_theta (transformers 4.x) or rope_parameters.rope_theta (transformers 5). */
    private static double ropeTheta(JsonObject c) {
        if (c.has("rope_theta") && !c.get("rope_theta").isJsonNull()) {
            return c.get("rope_theta").getAsDouble();
        }
        if (c.has("rope_parameters") && c.get("rope_parameters").isJsonObject()) {
            return optDouble(c.getAsJsonObject("rope_parameters"), "rope_theta", 10000.0);
        }
        return 10000.0;
    }

    private static Llama3RopeScaling ropeScaling(JsonObject c, Path file) {
        String key = c.has("rope_scaling") && !c.get("rope_scaling").isJsonNull() ? "rope_scaling"
                : c.has("rope_parameters") && c.get("rope_parameters").isJsonObject() ? "rope_parameters" : null;
        if (key == null) {
            return null;
        }
        JsonObject s = c.getAsJsonObject(key);
        String type = s.has("rope_type") ? s.get("rope_type").getAsString()
                : s.has("type") ? s.get("type").getAsString() : "default";
        if (type.equals("default")) {
            return null;
        }
        if (!type.equals("llama3")) {
            throw new CheckpointException(file + ": unsupported rope_scaling type " + type + " (only llama3)");
        }
        return new Llama3RopeScaling(s.get("factor").getAsDouble(), s.get("low_freq_factor").getAsDouble(),
                s.get("high_freq_factor").getAsDouble(), s.get("original_max_position_embeddings").getAsInt());
    }

    /** EOS ids from generation_config.json (int or list), else config.json. */
    private static Set<Integer> eosIds(Path dir, JsonObject config) {
        Set<Integer> ids = new LinkedHashSet<>();
        Path gen = dir.resolve("generation_config.json");
        if (Files.exists(gen)) {
            addIds(readJson(gen).get("eos_token_id"), ids);
        }
        if (ids.isEmpty()) {
            addIds(config.get("eos_token_id"), ids);
        }
        return Set.copyOf(ids);
    }

    private static void addIds(JsonElement e, Set<Integer> ids) {
        if (e == null || e.isJsonNull()) {
            return;
        }
        if (e.isJsonArray()) {
            for (JsonElement x : (JsonArray) e) {
                ids.add(x.getAsInt());
            }
        } else {
            ids.add(e.getAsInt());
        }
    }

    public static JsonObject readJson(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new CheckpointException(file + ": file not found");
        }
        try {
            return JsonParser.parseString(Files.readString(file)).getAsJsonObject();
        } catch (IOException | RuntimeException e) {
            throw new CheckpointException(file + ": not valid JSON (" + e.getMessage() + ")", e);
        }
    }

    private static int req(JsonObject c, String key, Path file) {
        if (!c.has(key) || c.get(key).isJsonNull()) {
            throw new CheckpointException(file + ": missing " + key);
        }
        return c.get(key).getAsInt();
    }

    private static int optInt(JsonObject c, String key, int dflt) {
        return c.has(key) && !c.get(key).isJsonNull() ? c.get(key).getAsInt() : dflt;
    }

    private static double optDouble(JsonObject c, String key, double dflt) {
        return c.has(key) && !c.get(key).isJsonNull() ? c.get(key).getAsDouble() : dflt;
    }

    private static boolean optBool(JsonObject c, String key, boolean dflt) {
        return c.has(key) && !c.get(key).isJsonNull() ? c.get(key).getAsBoolean() : dflt;
    }

    public List<String> describe() {
        List<String> s = new ArrayList<>();
        s.add(architecture + " dim " + hiddenSize + ", " + layers + " layers, " + heads + "/" + kvHeads + " heads");
        return s;
    }
}
