package io.kvpilot.engine;

import java.util.List;

/** Text in and out of token ids: the checkpoint's tokenizer and its chat template. Thread-safe. */
public interface TextCodec {

    /** Token ids of {@code text}; {@code addSpecialTokens} adds what the tokenizer's post-processor adds (BOS). */
    int[] encode(String text, boolean addSpecialTokens);

    /** Text of {@code ids}, special tokens skipped. */
    String decode(int[] ids);

    /**
     * The prompt the model's chat template renders for {@code messages}, ending with the assistant's turn opener.
     * Throws IllegalArgumentException when the template refuses the conversation, fails on it or exceeds its render
     * limits: the message names the template's reason, never the conversation's text.
     */
    String applyChatTemplate(List<ChatMessage> messages);
}
