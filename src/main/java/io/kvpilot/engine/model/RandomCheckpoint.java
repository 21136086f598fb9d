package io.kvpilot.engine.model;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Writes a Hugging Face checkpoint with random weights (fixed seed): {@code config.json},
 * {@code generation_config.json} and {@code model.safetensors} (or shards with an index). For tests and the
 * benchmark; the weights are uniform with std 0.02 and the norm weights near 1, so folding them matters.
 */
public final class RandomCheckpoint {

    /** What to write. {@code dtype} is F32, F16 or BF16. */
    public record Spec(String architecture, int dim, int layers, int heads, int kvHeads, int ffn, int vocab,
            int context, boolean tied, String dtype, int shards, boolean llama3Rope) {

        public static Spec llama(int dim, int layers, int heads, int kvHeads, int ffn, int vocab) {
            return new Spec("LlamaForCausalLM", dim, layers, heads, kvHeads, ffn, vocab, 2048, false, "F32", 1, false);
        }

        public Spec with(String arch, boolean tied, String dtype, int shards, boolean llama3Rope) {
            return new Spec(arch, dim, layers, heads, kvHeads, ffn, vocab, context, tied, dtype, shards, llama3Rope);
        }

        public Spec withContext(int ctx) {
            return new Spec(architecture, dim, layers, heads, kvHeads, ffn, vocab, ctx, tied, dtype, shards, llama3Rope);
        }
    }

    private RandomCheckpoint() {}

    /**
     * Writes the servable random 110M LLaMA of the serving load benchmark (docs/benchmarks.md): dim 768, 12 layers,
     * 12 heads, FFN 2560, vocabulary 8192 with the default model's tokenizer copied in, so the service can load it.
     * Usage: {@code RandomCheckpoint DIR [TOKENIZER_DIR (models/kvpilot-mini)]}.
     */
    public static void main(String[] args) throws IOException {
        if (args.length < 1 || args.length > 2) {
            System.err.println("usage: RandomCheckpoint DIR [TOKENIZER_DIR]");
            System.exit(2);
        }
        Path dir = Path.of(args[0]);
        Path tokenizer = Path.of(args.length > 1 ? args[1] : "models/kvpilot-mini");
        write(dir, Spec.llama(768, 12, 12, 12, 2560, 8192), 42);
        for (String f : List.of("tokenizer.json", "tokenizer_config.json")) {
            Files.copy(tokenizer.resolve(f), dir.resolve(f), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        System.out.println("wrote " + dir);
    }

    public static Path write(Path dir, Spec s, long seed) throws IOException {
        Files.createDirectories(dir);
        int hd = s.dim() / s.heads();
        boolean qwen = s.architecture().equals("Qwen2ForCausalLM");
        String rope = s.llama3Rope() ? ", \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0,"
                + " \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 64}" : "";
        Files.writeString(dir.resolve("config.json"), "{\"architectures\": [\"" + s.architecture() + "\"],"
                + " \"hidden_size\": " + s.dim() + ", \"num_hidden_layers\": " + s.layers()
                + ", \"num_attention_heads\": " + s.heads() + ", \"num_key_value_heads\": " + s.kvHeads()
                + ", \"intermediate_size\": " + s.ffn() + ", \"vocab_size\": " + s.vocab()
                + ", \"max_position_embeddings\": " + s.context() + ", \"rms_norm_eps\": 1e-5, \"rope_theta\": 10000.0,"
                + " \"hidden_act\": \"silu\", \"tie_word_embeddings\": " + s.tied() + ", \"eos_token_id\": 2" + rope + "}");
        Files.writeString(dir.resolve("generation_config.json"), "{\"bos_token_id\": 1, \"eos_token_id\": [2]}");

        SplittableRandom rnd = new SplittableRandom(seed);
        Map<String, long[]> shapes = new LinkedHashMap<>();
        shapes.put("model.embed_tokens.weight", new long[] {s.vocab(), s.dim()});
        for (int i = 0; i < s.layers(); i++) {
            String p = "model.layers." + i + ".";
            shapes.put(p + "input_layernorm.weight", new long[] {s.dim()});
            shapes.put(p + "self_attn.q_proj.weight", new long[] {(long) s.heads() * hd, s.dim()});
            shapes.put(p + "self_attn.k_proj.weight", new long[] {(long) s.kvHeads() * hd, s.dim()});
            shapes.put(p + "self_attn.v_proj.weight", new long[] {(long) s.kvHeads() * hd, s.dim()});
            if (qwen) {
                shapes.put(p + "self_attn.q_proj.bias", new long[] {(long) s.heads() * hd});
                shapes.put(p + "self_attn.k_proj.bias", new long[] {(long) s.kvHeads() * hd});
                shapes.put(p + "self_attn.v_proj.bias", new long[] {(long) s.kvHeads() * hd});
            }
            shapes.put(p + "self_attn.o_proj.weight", new long[] {s.dim(), (long) s.heads() * hd});
            shapes.put(p + "post_attention_layernorm.weight", new long[] {s.dim()});
            shapes.put(p + "mlp.gate_proj.weight", new long[] {s.ffn(), s.dim()});
            shapes.put(p + "mlp.up_proj.weight", new long[] {s.ffn(), s.dim()});
            shapes.put(p + "mlp.down_proj.weight", new long[] {s.dim(), s.ffn()});
        }
        shapes.put("model.norm.weight", new long[] {s.dim()});
        if (!s.tied()) {
            shapes.put("lm_head.weight", new long[] {s.vocab(), s.dim()});
        }
        List<String> names = new ArrayList<>(shapes.keySet());
        int shards = Math.max(1, s.shards());
        StringBuilder index = new StringBuilder("{\"metadata\": {}, \"weight_map\": {");
        for (int k = 0; k < shards; k++) {
            List<String> part = names.subList(k * names.size() / shards, (k + 1) * names.size() / shards);
            String file = shards == 1 ? "model.safetensors"
                    : String.format("model-%05d-of-%05d.safetensors", k + 1, shards);
            Map<String, long[]> partShapes = new LinkedHashMap<>();
            for (String n : part) {
                partShapes.put(n, shapes.get(n));
                index.append(index.charAt(index.length() - 1) == '{' ? "" : ", ")
                        .append('"').append(n).append("\": \"").append(file).append('"');
            }
            writeFile(dir.resolve(file), partShapes, s.dtype(), rnd);
        }
        if (shards > 1) {
            Files.writeString(dir.resolve("model.safetensors.index.json"), index.append("}}").toString());
        }
        return dir;
    }

    private static void writeFile(Path file, Map<String, long[]> shapes, String dtype, SplittableRandom rnd)
            throws IOException {
        int width = dtype.equals("F32") ? 4 : 2;
        StringBuilder h = new StringBuilder("{");
        long offset = 0;
        for (var e : shapes.entrySet()) {
            long n = 1;
            for (long d : e.getValue()) {
                n *= d;
            }
            h.append(h.length() > 1 ? ", " : "").append('"').append(e.getKey()).append("\": {\"dtype\": \"")
                    .append(dtype).append("\", \"shape\": ").append(java.util.Arrays.toString(e.getValue()))
                    .append(", \"data_offsets\": [").append(offset).append(", ").append(offset + n * width).append("]}");
            offset += n * width;
        }
        h.append('}');
        while ((h.length() + 8) % 8 != 0) {
            h.append(' ');
        }
        byte[] header = h.toString().getBytes(StandardCharsets.UTF_8);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length);
            len.flip();
            ch.write(len);
            ch.write(ByteBuffer.wrap(header));
            ByteBuffer buf = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
            double a = 0.02 * Math.sqrt(3);
            for (var e : shapes.entrySet()) {
                long n = 1;
                for (long d : e.getValue()) {
                    n *= d;
                }
                boolean norm = e.getKey().endsWith("norm.weight");
                boolean bias = e.getKey().endsWith(".bias");
                for (long i = 0; i < n; i++) {
                    float v = norm ? (float) (1.0 + rnd.nextDouble(-0.1, 0.1))
                            : (float) rnd.nextDouble(-a, a) * (bias ? 5f : 1f);
                    if (width == 4) {
                        buf.putFloat(v);
                    } else if (dtype.equals("BF16")) {
                        buf.putShort((short) (Float.floatToIntBits(v) >>> 16));
                    } else {
                        buf.putShort(floatToHalf(v));
                    }
                    if (!buf.hasRemaining()) {
                        buf.flip();
                        ch.write(buf);
                        buf.clear();
                    }
                }
            }
            buf.flip();
            ch.write(buf);
        }
    }

    /** IEEE half from float, round-to-nearest for normal magnitudes (enough for random weights). */
    static short floatToHalf(float f) {
        int bits = Float.floatToIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        int exp = ((bits >>> 23) & 0xff) - 127 + 15;
        int mant = bits & 0x7fffff;
        if (exp <= 0) {
            return (short) sign; // flush tiny values to zero
        }
        if (exp >= 31) {
            return (short) (sign | 0x7c00);
        }
        int half = sign | (exp << 10) | (mant >> 13);
        if ((mant & 0x1000) != 0) {
            half++;
        }
        return (short) half;
    }
}
