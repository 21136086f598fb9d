package io.kvpilot.engine.model;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import io.kvpilot.engine.ChatMessage;
import io.kvpilot.engine.CheckpointException;
import io.kvpilot.engine.TextCodec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The checkpoint's {@code tokenizer.json} through DJL's Hugging Face tokenizer (truncation and padding off: without a
 * config it would silently cut at 512 tokens) and its chat template ({@link CheckpointChatTemplate}).
 */
public final class HfTextCodec implements TextCodec, AutoCloseable {

    private final HuggingFaceTokenizer tokenizer;
    private final CheckpointChatTemplate chatTemplate;

    private HfTextCodec(HuggingFaceTokenizer tokenizer, CheckpointChatTemplate chatTemplate) {
        this.tokenizer = tokenizer;
        this.chatTemplate = chatTemplate;
    }

    /** The codec of {@code dir}, or null when it has no tokenizer.json (id-level use only). */
    public static HfTextCodec loadIfPresent(Path dir) {
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
        try {
            Path configFile = dir.resolve("tokenizer_config.json");
            return new HfTextCodec(tokenizer, CheckpointChatTemplate.load(dir,
                    Files.exists(configFile) ? ModelConfig.readJson(configFile) : null));
        } catch (RuntimeException e) {
            tokenizer.close();
            throw e;
        }
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
        return chatTemplate.render(messages);
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
