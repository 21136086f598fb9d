package io.kvpilot.engine;

/** One chat turn as the model's chat template sees it. */
public record ChatMessage(String role, String content) {}
