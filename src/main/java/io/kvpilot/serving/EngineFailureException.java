package io.kvpilot.serving;

/** The engine failed while running this request's sequence; the request ends with {@code finish_reason=error}. */
public final class EngineFailureException extends RuntimeException {

    public EngineFailureException(String message, Throwable cause) {
        super(message, cause);
    }
}
