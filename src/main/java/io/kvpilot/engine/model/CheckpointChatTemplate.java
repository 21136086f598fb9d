package io.kvpilot.engine.model;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import io.kvpilot.engine.ChatMessage;
import io.kvpilot.engine.CheckpointException;
import io.kvpilot.engine.template.ChatTemplate;
import io.kvpilot.engine.template.RenderLimits;
import io.kvpilot.engine.template.TemplateException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The checkpoint's chat template, found where transformers looks: {@code chat_template.jinja} (written by
 * transformers ≥ 4.43, and it wins), else {@code tokenizer_config.json}'s {@code chat_template} (a string, or a list of
 * named templates of which "default" is used), else ChatML, said once in the log at start-up. Rendered with the
 * context {@code apply_chat_template} passes: {@code messages}, {@code tools} and {@code documents} (None),
 * {@code add_generation_prompt} (true) and the special tokens the tokenizer config names.
 */
final class CheckpointChatTemplate {

    private static final Logger log = LoggerFactory.getLogger(CheckpointChatTemplate.class);

    /** ChatML, for checkpoints that ship no template. */
    static final String CHATML = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n'"
            + " + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}"
            + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    private static final List<String> SPECIAL_TOKENS = List.of("bos_token", "eos_token", "unk_token", "sep_token",
            "pad_token", "cls_token", "mask_token");

    private final String source;
    private final ChatTemplate template;
    private final TemplateException unusable;
    private final Map<String, Object> specialTokens;

    private CheckpointChatTemplate(String source, String text, Map<String, Object> specialTokens) {
        this.source = source;
        this.specialTokens = specialTokens;
        ChatTemplate compiled = null;
        TemplateException error = null;
        try {
            compiled = ChatTemplate.compile(text);
        } catch (TemplateException e) {
            error = e;
            log.warn("The chat template in {} cannot be parsed ({}); chat requests will be refused", source,
                    e.getMessage());
        }
        this.template = compiled;
        this.unusable = error;
    }

    static CheckpointChatTemplate load(Path dir, JsonObject tokenizerConfig) {
        Map<String, Object> tokens = new HashMap<>();
        if (tokenizerConfig != null) {
            for (String name : SPECIAL_TOKENS) {
                String token = tokenString(tokenizerConfig.get(name));
                if (token != null) {
                    tokens.put(name, token);
                }
            }
        }
        Path jinja = dir.resolve("chat_template.jinja");
        if (Files.isRegularFile(jinja)) {
            try {
                return new CheckpointChatTemplate(jinja.getFileName().toString(),
                        Files.readString(jinja, StandardCharsets.UTF_8), tokens);
            } catch (IOException e) {
                throw new CheckpointException(jinja + ": cannot read chat template (" + e.getMessage() + ")", e);
            }
        }
        String fromConfig = tokenizerConfig == null ? null : configTemplate(tokenizerConfig.get("chat_template"));
        if (fromConfig != null) {
            return new CheckpointChatTemplate("tokenizer_config.json", fromConfig, tokens);
        }
        log.warn("{} has no chat template (neither chat_template.jinja nor tokenizer_config.json's chat_template): "
                + "chat requests are rendered as ChatML, which this model may not have been trained on",
                dir.getFileName());
        return new CheckpointChatTemplate("the ChatML fallback", CHATML, tokens);
    }

    private static String configTemplate(JsonElement t) {
        if (t != null && t.isJsonPrimitive()) {
            return t.getAsString();
        }
        if (t != null && t.isJsonArray()) {
            for (JsonElement named : t.getAsJsonArray()) {
                JsonObject o = named.getAsJsonObject();
                if (o.has("name") && o.get("name").getAsString().equals("default") && o.has("template")) {
                    return o.get("template").getAsString();
                }
            }
        }
        return null;
    }

    private static String tokenString(JsonElement e) {
        if (e == null || e.isJsonNull()) {
            return null;
        }
        if (e.isJsonObject()) {
            JsonElement content = e.getAsJsonObject().get("content");
            return content == null || content.isJsonNull() ? null : content.getAsString();
        }
        return e.getAsString();
    }

    /**
     * The prompt for {@code messages}. A template that refuses the conversation, fails on it or exceeds the render
     * limits throws {@link TemplateException} (an IllegalArgumentException: the client's request cannot be served);
     * only the error kind is logged, never the conversation.
     */
    String render(List<ChatMessage> messages) {
        if (unusable != null) {
            throw unusable;
        }
        List<Map<String, Object>> list = new ArrayList<>(messages.size());
        long chars = 0;
        for (ChatMessage m : messages) {
            Map<String, Object> message = new LinkedHashMap<>(); // ordered as in the request, for tojson
            message.put("role", m.role());
            message.put("content", m.content());
            list.add(message);
            chars += m.content().length();
        }
        Map<String, Object> context = new HashMap<>(specialTokens);
        context.put("messages", list);
        context.put("tools", null);
        context.put("documents", null);
        context.put("add_generation_prompt", true);
        try {
            return template.render(context, RenderLimits.DEFAULTS.forInput(chars), Clock.systemDefaultZone());
        } catch (TemplateException e) {
            log.debug("Chat template from {} failed: {}", source, e.kind());
            throw e;
        }
    }

    String source() {
        return source;
    }
}
