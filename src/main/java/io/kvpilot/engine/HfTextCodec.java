package io.kvpilot.engine;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The checkpoint's {@code tokenizer.json} through DJL's Hugging Face tokenizer (truncation and padding off: without a
 * config it would silently cut at 512 tokens) and the chat template of {@code tokenizer_config.json} rendered by
 * Jinjava with Hugging Face's settings (trim_blocks, lstrip_blocks, {@code raise_exception}).
 */
final class HfTextCodec implements TextCodec, AutoCloseable {

    /** ChatML, for checkpoints that ship no template. */
    static final String DEFAULT_TEMPLATE = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n'"
            + " + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}"
            + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    private final HuggingFaceTokenizer tokenizer;
    private final Jinjava jinjava;
    private final String template;
    private final String bosToken;
    private final String eosToken;

    private HfTextCodec(HuggingFaceTokenizer tokenizer, String template, String bosToken, String eosToken) {
        this.tokenizer = tokenizer;
        this.template = template;
        this.bosToken = bosToken;
        this.eosToken = eosToken;
        this.jinjava = new Jinjava(JinjavaConfig.newBuilder().withTrimBlocks(true).withLstripBlocks(true).build());
        jinjava.getGlobalContext().registerFunction(
                new ELFunctionDefinition("", "raise_exception", HfTextCodec.class, "raiseException", String.class));
    }

    /** The codec of {@code dir}, or null when it has no tokenizer.json (id-level use only). */
    static HfTextCodec loadIfPresent(Path dir) {
        Path file = dir.resolve("tokenizer.json");
        if (!Files.exists(file)) {
            return null;
        }
        HuggingFaceTokenizer tokenizer;
        try {
            tokenizer = HuggingFaceTokenizer.builder()
                    .optTokenizerPath(file)
                    .optTruncation(false)
                    .optPadding(false)
                    .optAddSpecialTokens(true)
                    .build();
        } catch (IOException | RuntimeException e) {
            throw new CheckpointException(file + ": cannot load tokenizer (" + e.getMessage() + ")", e);
        }
        String template = DEFAULT_TEMPLATE;
        String bos = "";
        String eos = "";
        Path configFile = dir.resolve("tokenizer_config.json");
        if (Files.exists(configFile)) {
            JsonObject config = ModelConfig.readJson(configFile);
            JsonElement t = config.get("chat_template");
            if (t != null && t.isJsonPrimitive()) {
                template = t.getAsString();
            } else if (t != null && t.isJsonArray()) { // [{name, template}], "default" first
                for (JsonElement named : t.getAsJsonArray()) {
                    JsonObject o = named.getAsJsonObject();
                    if (o.get("name").getAsString().equals("default")) {
                        template = o.get("template").getAsString();
                    }
                }
            }
            bos = tokenString(config.get("bos_token"));
            eos = tokenString(config.get("eos_token"));
        }
        return new HfTextCodec(tokenizer, template, bos, eos);
    }

    private static String tokenString(JsonElement e) {
        if (e == null || e.isJsonNull()) {
            return "";
        }
        return e.isJsonObject() ? e.getAsJsonObject().get("content").getAsString() : e.getAsString();
    }

    /** The template's {@code raise_exception(message)}. */
    public static String raiseException(String message) {
        throw new IllegalArgumentException("chat template: " + message);
    }

    @Override
    public int[] encode(String text, boolean addSpecialTokens) {
        long[] ids = tokenizer.encode(text, addSpecialTokens, false).getIds();
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = (int) ids[i];
        }
        return out;
    }

    @Override
    public String decode(int[] ids) {
        long[] wide = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            wide[i] = ids[i];
        }
        return tokenizer.decode(wide, true);
    }

    @Override
    public String applyChatTemplate(List<ChatMessage> messages) {
        List<Map<String, Object>> list = new ArrayList<>();
        for (ChatMessage m : messages) {
            list.add(Map.of("role", m.role(), "content", m.content()));
        }
        Map<String, Object> context = new HashMap<>();
        context.put("messages", list);
        context.put("add_generation_prompt", true);
        context.put("bos_token", bosToken);
        context.put("eos_token", eosToken);
        var result = jinjava.renderForResult(template, context);
        for (var error : result.getErrors()) {
            if (error.getSeverity() == com.hubspot.jinjava.interpret.TemplateError.ErrorType.FATAL) {
                for (Throwable t = error.getException(); t != null; t = t.getCause()) {
                    if (t.getMessage() != null && t.getMessage().startsWith("chat template: ")) {
                        throw new IllegalArgumentException(t.getMessage()); // the template's raise_exception
                    }
                }
                throw new IllegalArgumentException("chat template failed: " + error.getMessage());
            }
        }
        return result.getOutput();
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
