package io.kvpilot.api;

import io.kvpilot.engine.ChatMessage;
import io.kvpilot.engine.GenerationEngine;
import java.util.List;

/** The chat template's prompt for a request, with one error for every endpoint that renders one. */
final class ChatPrompts {

    private ChatPrompts() {}

    /**
     * A template that refuses the conversation (roles out of order, a render limit) is the client's error: 400 on
     * {@code messages}, before anything is tokenized.
     */
    static String render(GenerationEngine engine, List<ChatMessage> messages) {
        try {
            return engine.textCodec().applyChatTemplate(messages);
        } catch (IllegalArgumentException e) {
            throw ApiError.invalid("messages", "chat template: " + e.getMessage());
        }
    }
}
