package io.kvpilot.serving;

import io.kvpilot.engine.FinishReason;

/**
 * What the scheduler streams to one request: text released in one engine step, and on the last event the finish
 * reason and usage. A request's events arrive in order on one {@code Flux}.
 *
 * @param text new text (may be empty)
 * @param finishReason {@code null} until the last event
 * @param usage {@code null} until the last event
 */
public record GenerationEvent(String text, FinishReason finishReason, Usage usage) {

    public boolean isLast() {
        return finishReason != null;
    }
}
