package io.kvpilot.engine;

/** Why a sequence stopped generating; the names are the OpenAI {@code finish_reason} values plus KVPilot's own. */
public enum FinishReason {
    /** EOS token or a stop string. */
    STOP,
    /** {@code max_tokens} or the context window reached. */
    LENGTH,
    /** The client went away or cancelled. */
    CANCELLED,
    /** The request's deadline passed; the text generated so far is returned. */
    TIMEOUT,
    /** The engine failed on this sequence. */
    ERROR;

    public String wireName() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
